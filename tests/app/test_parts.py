"""The parts the views share (app/views/parts), without a browser: tables that escape their
cells, the token-position slider bound to the session, a picture with its table a click
away, and the state objects that work only while their view is shown."""

from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

import panel as pn

from app.views.attention import AttentionView
from app.views.parts.heatmap import Heatmap
from app.views.parts.markup import Markup, esc, table_html, visible
from app.views.parts.picture_or_table import PictureOrTable
from app.views.parts.position_slider import PositionSlider
from app.views.residual import ResidualView

ATTACK = "<img src=x onerror=\"alert('x')\">&"


# ---- table_html -----------------------------------------------------------------------

def test_every_cell_is_escaped_unless_it_is_markup():
    html = table_html([ATTACK, "p"], [[ATTACK, 0.5], [Markup(f"<b>{esc(ATTACK)}</b>"), 3]],
                      classes="data", row_classes=["now", ""])
    assert "<img" not in html and html.count(esc(ATTACK)) == 3
    assert html.startswith("<table class='data'><tr><th>&lt;img")
    assert f"<tr class='now'><td>{esc(ATTACK)}</td><td>0.5</td></tr>" in html
    assert f"<tr><td><b>{esc(ATTACK)}</b></td><td>3</td></tr></table>" in html
    assert isinstance(html, Markup)  # a table can sit in another table's cell
    empty = "<table class='x&#x27;y'><tr><th>a</th></tr></table>"
    assert table_html(["a"], [], classes="x'y") == empty


def test_rows_and_their_classes_must_pair_up():
    with pytest.raises(ValueError):
        table_html(["a"], [[1], [2]], row_classes=["now"])


def test_a_views_table_escapes_a_token_from_the_prompt(session):
    session.prompt = "a<b>&c"
    view = AttentionView(session=session, active=True)
    session.heads_off = [(0, 0)]  # the effect table lists tokens by their pieces
    cells = re.findall(r"<td>(.*?)</td>", view._effect.object)
    assert cells and not any("<" in c or re.search(r"&(?!lt;|gt;|amp;|#x27;)", c)
                             for c in cells)


# ---- the position slider ----------------------------------------------------------------

def test_the_slider_moves_the_sessions_position_and_follows_it(session):
    active = pn.widgets.Checkbox(value=True)  # stands for the owning view's `active`
    slider = PositionSlider(session=session, active=active.param.value)
    last = len(session.ids) - 1
    assert (slider.slider.start, slider.slider.end, slider.slider.value) == (0, last, last)
    slider.slider.value = 3
    assert session.query == 3 and session.query_position == 3
    slider.slider.value = last  # the last token is kept as -1: it follows a growing prompt
    assert session.query == -1
    session.choose_position(5)  # moved elsewhere: the slider follows
    assert slider.slider.value == 5
    session.prompt = "KING:"
    assert (slider.slider.end, slider.slider.value) == (4, 4)


def test_the_slider_waits_while_its_view_is_hidden_and_catches_up(session):
    active = pn.widgets.Checkbox(value=False)
    slider = PositionSlider(session=session, active=active.param.value)
    before = slider.slider.value
    session.choose_position(2)
    session.prompt = "ROMEO: a longer prompt than before, by far"
    assert slider.slider.value == before  # hidden: not touched
    active.value = True
    assert slider.slider.end == len(session.ids) - 1 and slider.slider.value == 2


def test_two_views_share_one_position(session):
    attention = AttentionView(session=session, active=True)
    residual = ResidualView(session=session, active=True)
    attention.position.slider.value = 4
    assert residual.position.slider.value == 4 and residual.lens.reading.position == 4
    assert "token 4 " in attention._caption.object


# ---- picture or table --------------------------------------------------------------------

def test_picture_or_table_swaps_and_puts_the_table_on_the_page_only_when_asked():
    picture, table = pn.pane.HTML("picture"), pn.pane.HTML("table")
    part = PictureOrTable(picture, table)
    body = part._body
    assert body.objects == [picture] and part.toggle.name == "Show as table"
    part.toggle.value = True
    assert part.showing_table and body.objects == [table]
    part.showing_table = False
    assert body.objects == [picture] and not part.toggle.value


def test_a_heatmap_uses_the_shared_part():
    heatmap = Heatmap("m", "row", "col")
    assert isinstance(heatmap.__panel__(), PictureOrTable)
    heatmap.numbers.showing_table = True
    assert heatmap.numbers._body.objects[0].object is heatmap.table


# ---- state that works only while its view is shown ---------------------------------------

def test_the_lens_and_head_roles_follow_their_views_active(session):
    residual = ResidualView(session=session, active=True)
    attention = AttentionView(session=session, active=True)
    assert residual.lens.active and attention.roles.active
    residual.active = attention.active = False
    assert not residual.lens.active and not attention.roles.active
    reading, scores = residual.lens.reading, attention.roles.scores
    session.prompt = "JULIET:\nO"
    assert residual.lens.reading is reading and attention.roles.scores is scores
    residual.active = attention.active = True  # shown again: caught up
    assert residual.lens.reading.probs.shape[1] == session.config.vocab_size
    assert residual.lens.reading is not reading
    assert residual.lens.reading.position == len(session.ids) - 1


# ---- the pictures' text alternatives ------------------------------------------------------------

def test_each_attention_picture_says_what_it_shows_from_the_live_trace(session):
    view = AttentionView(session=session)
    session.param.update(layer=1, head=2, query=5)
    _, trace = session.model.forward(np.array(session.ids))  # apart from the view
    att = trace.blocks[1].att[0, 2, 5, :6]
    key = int(np.argmax(att))
    piece = repr(visible(session.pieces([session.ids[key]])[0]))
    said = view.weights.numbers.summary
    assert said.startswith("Weights (block 1, head 2): token 5 ")
    assert f"puts most weight on {piece} at {key} ({att[key]:.2f})." in said
    assert view.grid.numbers.summary.startswith("The strongest previous token head: block ")
    # shown under the picture, escaped like every text from the prompt
    session.prompt = ATTACK
    assert "<img" not in view.weights.numbers._summary.object
    assert "weight on" in view.weights.numbers._summary.object


def test_a_picture_without_a_summary_shows_no_empty_line():
    part = PictureOrTable(pn.pane.Markdown("picture"), pn.pane.Markdown("table"))
    assert not part._summary.visible
    part.summary = "It shows 3 things."
    assert part._summary.visible and "It shows 3 things." in part._summary.object
