"""Views in named sections: a short explanation, then the picture; one section brought forward
(the tour's picture) with the rest folded away, unfolded, and back."""

from __future__ import annotations

import panel as pn
import pytest

from app.views import VIEWS
from app.views.parts.markup import MORE_ABOUT, explain


def is_picture(obj) -> bool:
    """Whether a section's object draws a picture: a Bokeh figure, an HTML <figure>, the
    code editor."""
    return any(isinstance(o, pn.pane.Bokeh | pn.widgets.CodeEditor) or
               (isinstance(o, pn.pane.HTML) and "<figure" in str(o.object))
               for o in pn.panel(obj).select(lambda o: True))


@pytest.fixture(scope="module")
def views(corpus_text):
    from app.session.loader import load_session
    from tests.support.models import WEIGHTS_TINY

    s = load_session(WEIGHTS_TINY, corpus=corpus_text[:40_000])
    return {key: cls(session=s, active=True) for key, (_, cls, _) in VIEWS.items()}


@pytest.mark.parametrize("key", list(VIEWS))
def test_a_short_explanation_then_the_picture(views, key):
    view = views[key]
    names = view.sections()
    assert names[0] == "intro" and len(names) >= 2
    intro = view._sections["intro"].objects[0].object
    lead = intro.split("</p>")[0]
    assert len(lead) < 320, f"{key}: the first screen's explanation is {len(lead)} long"
    assert is_picture(view._sections[names[1]]), f"{key}: {names[1]} draws no picture"


@pytest.mark.parametrize("key", list(VIEWS))
def test_a_section_comes_forward_and_the_rest_fold_away(views, key):
    view = views[key]
    names = view.sections()
    layout = view.__panel__()
    placed = list(layout.select(pn.Column))

    def shown():
        return [n for n in names if "folded" not in view._sections[n].css_classes]

    for name in names:
        view.param.update(focus=name, unfold=False)
        assert shown() == [name]
        view.unfold = True
        assert shown() == list(names)
    view.param.update(focus="", unfold=False)
    assert shown() == list(names)
    assert list(layout.select(pn.Column)) == placed  # nothing was moved or made anew
    with pytest.raises(ValueError, match="has no section 'nowhere'"):
        view.focus = "nowhere"
    view.focus = ""


def test_an_explanation_keeps_its_details_behind_a_summary():
    html = explain("The lead.", "The rest.").object
    assert html.index("The lead.") < html.index(f"<summary>{MORE_ABOUT}</summary>") \
        < html.index("The rest.")
    assert "details" not in explain("Only a lead.").object
