"""Sharing: the link to the current state and the one-line embed code for a blog post."""

from __future__ import annotations

import html
import re

import panel as pn
import pytest
from panel.io.location import Location
from panel.util import edit_readonly

from app.lab import share
from app.lab.share import SANDBOX, ShareBar, embed_snippet, embed_url, page_link


def test_the_link_is_the_page_with_the_state_as_its_hash():
    assert page_link("https://ex.org/napkin/index.html?x=1#old", "view=next") == \
        "https://ex.org/napkin/index.html?x=1#view=next"
    assert page_link("https://ex.org/napkin/", "") == "https://ex.org/napkin/"


@pytest.mark.parametrize(("page", "static", "expected"), [
    ("https://ex.org/napkin/index.html?x=1#old", True, "https://ex.org/napkin/embed.html#s"),
    ("https://ex.org/napkin/", True, "https://ex.org/napkin/embed.html#s"),
    ("http://127.0.0.1:5006/", False, "http://127.0.0.1:5006/embed#s"),
    ("http://127.0.0.1:5006/?theme=dark", False, "http://127.0.0.1:5006/embed#s"),
])
def test_the_embed_page_sits_next_to_the_page(page, static, expected):
    assert embed_url(page, "s", static) == expected


def test_the_snippet_is_one_sandboxed_lazy_iframe():
    snippet = embed_snippet("https://ex.org/embed.html#view=attention&layer=1", "attention")
    assert "\n" not in snippet
    assert re.fullmatch(r'<iframe src="[^"]+" title="[^"]+" loading="lazy" sandbox="[^"]+" '
                        r'style="[^"]+"></iframe>', snippet)
    assert 'src="https://ex.org/embed.html#view=attention&amp;layer=1"' in snippet
    assert f'sandbox="{SANDBOX}"' in snippet and "allow-top-navigation" not in snippet
    assert 'title="Napkin GPT: Attention"' in snippet


def test_every_view_has_its_title_and_unknown_views_use_their_key():
    assert 'title="Napkin GPT: Residual tracks"' in embed_snippet("embed.html", "residual")
    assert 'title="Napkin GPT: mystery"' in embed_snippet("embed.html", "mystery")


def test_nothing_from_the_url_or_the_view_can_break_out_of_the_snippet():
    evil = 'https://ex.org/embed.html#x"><script>alert(1)</script><iframe src="'
    snippet = embed_snippet(evil, '"><img src=x onerror=alert(1)>')
    assert "<script" not in snippet and "<img" not in snippet
    assert snippet.count("<iframe") == 1 and snippet.count('"') == 10  # five attributes
    assert html.unescape(re.search(r'src="([^"]+)"', snippet).group(1)) == evil


def test_the_share_bar_follows_the_state_before_the_address_is_known():
    bar = ShareBar(state="view=next&seed=3", view="next")
    assert bar.link.value == "#view=next&seed=3"
    assert 'src="embed.html#view=next&amp;seed=3"' in bar.snippet.value
    assert "Napkin GPT: Next token" in bar.snippet.value
    bar.param.update(state="view=tokens", view="tokens")
    assert bar.link.value == "#view=tokens" and "Napkin GPT: Tokens" in bar.snippet.value


@pytest.mark.parametrize(("platform", "embed"), [("emscripten", "embed.html"),
                                                 ("linux", "embed")])
def test_the_share_bar_uses_the_page_address(monkeypatch, platform, embed):
    location = Location()
    with edit_readonly(location):
        location.href = "https://ex.org/lab/index.html"
    monkeypatch.setattr(pn.state, "_location", location)
    monkeypatch.setattr(share.sys, "platform", platform)
    bar = ShareBar(state="view=code", view="code")
    assert bar.link.value == "https://ex.org/lab/index.html#view=code"
    assert f'src="https://ex.org/lab/{embed}#view=code"' in bar.snippet.value


def test_hide_explain_leaves_out_every_explanation(session):
    """Every pane with an explanation (the views', the header's and the footer's) gets the
    class whose rule in style.css hides `.explain`; other panes keep theirs."""
    from app.lab.page import Lab
    from app.views import VIEWS

    def marked(lab):
        panes = lab.__panel__().select(pn.pane.HTML)
        return [("no-explain" in p.css_classes, "class=\"explain\"" in str(p.object)
                 or "class='explain'" in str(p.object)) for p in panes]

    lab = Lab(session=session, state="hide=explain")
    for key in VIEWS:
        lab.view = key
        found = marked(lab)
        assert any(explains for _, explains in found), key
        assert all(hidden for hidden, explains in found if explains), key
    plain = Lab(session=session, state="")
    assert not any(hidden for hidden, _ in marked(plain))


def test_the_links_follow_every_change_of_the_session_view_and_chapter(session):
    """Every part of the state the lab writes reaches the share bar as it changes (param
    once dropped the watchers on `session.*` when the tour was set after the lab's init)."""
    from app.lab.page import Lab

    lab = Lab(session=session, state="view=next")
    session.prompt = "KING:"
    assert "prompt=KING%3A" in lab.share.state
    session.seed = 7
    assert "seed=7" in lab.share.state
    lab.view = "tokens"
    assert lab.share.state.startswith("view=tokens")
    lab.tour.chapter = 2
    assert lab.share.state.startswith("tour=2")
