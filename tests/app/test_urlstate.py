"""The lab's state in the URL hash: what a link restores, and what it says about bad parts."""

from __future__ import annotations

import pytest

pytest.importorskip("panel", reason="the lab needs Panel (pip install -e '.[app]')")

from app.lab.urlstate import HIDEABLE, MAX_HASH, MAX_PROMPT, VIEWS, LabState, parse_hash, to_hash
from app.session.loader import load_session
from app.session.session import LabSession
from app.tour import CHAPTERS
from tests.support.models import WEIGHTS_TINY


@pytest.fixture(scope="module")
def limits():
    """A session on the shipped model (3 blocks of 4 heads, 77 tokens): its parameters'
    bounds are the link's."""
    return load_session(WEIGHTS_TINY, corpus="")


def test_defaults_come_from_the_session_and_the_views():
    from app.views import DEFAULT_VIEW

    state = LabState()
    assert state.view == DEFAULT_VIEW
    for key in ("prompt", "layer", "head", "temperature", "top_k", "top_p", "seed"):
        assert getattr(state, key) == LabSession.param[key].default


def test_bounds_follow_the_model_in_use(limits, corpus_text):
    from engine import GPT, CharTokenizer, GPTConfig

    s = load_session(WEIGHTS_TINY, corpus="")
    tok = CharTokenizer.from_text(corpus_text[:5000])
    s._install(GPT(GPTConfig(tok.vocab_size, 64, 2, 2, 32)), tok, "")
    assert parse_hash("layer=1&head=1", s) == (LabState(layer=1, head=1), [])
    assert "is outside 0..1" in parse_hash("layer=2", s)[1][0]


def test_an_empty_hash_is_the_default_lab(limits):
    for text in ("", "#", None):
        assert parse_hash(text, limits) == (LabState(), [])
    assert to_hash(LabState()) == ""


@pytest.mark.parametrize("state", [
    LabState(view="next", layer=2, head=3, temperature=0.0, top_k=77, top_p=0.01, seed=2**31 - 1),
    LabState(prompt="ROMEO:\nBut soft & what=light #1 ½ ünïcödé 👋 %20"),
    LabState(prompt=""),
    LabState(view="code", hide=("nav", "footer")),
    LabState(prompt='<script>alert("x")</script>'),
    LabState(tour=5, hide=("prompt", "nav", "transport")),
    LabState(view="code", code="1.q1ZKzdQrKC"),
])
def test_every_state_survives_the_round_trip(state, limits):
    text = to_hash(state)
    assert "#" not in text and " " not in text and "\n" not in text
    assert parse_hash(text, limits) == (state, [])
    assert parse_hash("#" + text, limits) == (state, [])


def test_the_hash_names_only_what_differs_from_the_defaults(limits):
    assert to_hash(LabState(view="tokens", seed=3)) == "view=tokens&seed=3"
    assert to_hash(LabState(hide=("prompt", "nav"))) == "hide=prompt%2Cnav"
    assert parse_hash("hide=prompt,nav", limits)[0].hide == ("prompt", "nav")


@pytest.mark.parametrize(("text", "key", "says"), [
    ("layer=3", "layer", "is outside 0..2"),
    ("head=-1", "head", "is outside 0..3"),
    ("layer=1.5", "layer", "is not a whole number"),
    ("layer=", "layer", "is not a whole number"),
    ("temperature=2.5", "temperature", "is outside 0.0..2.0"),
    ("temperature=nan", "temperature", "is outside"),
    ("temperature=inf", "temperature", "is outside"),
    ("temperature=hot", "temperature", "is not a number"),
    ("top_p=0", "top_p", "is outside 0.01..1.0"),
    ("top_k=78", "top_k", "is outside 0..77"),
    ("seed=2147483648", "seed", "is outside"),
    ("view=secret", "view", "is not one of " + ", ".join(VIEWS)),
    ("hide=everything", "hide", "it can hide " + ", ".join(HIDEABLE)),
    ("tour=0", "tour", f"is outside 1..{len(CHAPTERS)}"),
    (f"tour={len(CHAPTERS) + 1}", "tour", f"is outside 1..{len(CHAPTERS)}"),
    ("tour=two", "tour", "is not a whole number"),
    (f"prompt={'a' * (MAX_PROMPT + 1)}", "prompt", f"is longer than {MAX_PROMPT}"),
])
def test_a_bad_value_takes_its_default_and_says_why(text, key, says, limits):
    other, value = ("seed", 7) if key == "view" else ("view", "next")
    state, notices = parse_hash(f"{text}&{other}={value}", limits)
    assert getattr(state, key) == getattr(LabState(), key)
    assert getattr(state, other) == value  # the rest of the link still counts
    assert len(notices) == 1
    assert notices[0].startswith(f"The link's {key}=") and says in notices[0]


def test_notices_quote_at_most_forty_characters_of_a_bad_value(limits):
    _, notices = parse_hash("view=" + "x" * 500, limits)
    assert "x" * 40 in notices[0] and "x" * 41 not in notices[0]


def test_unknown_settings_are_named_and_ignored(limits):
    state, notices = parse_hash("view=next&colour=red&__proto__=1", limits)
    assert state == LabState(view="next")
    assert notices == ["The link has an unknown setting 'colour'; it was ignored.",
                       "The link has an unknown setting '__proto__'; it was ignored."]


def test_an_overlong_hash_is_read_only_up_to_its_limit(limits):
    state, notices = parse_hash("view=next&prompt=" + "a" * (2 * MAX_HASH), limits)
    assert state.view == "next" and state.prompt == LabState().prompt
    assert notices[0] == (f"The link's state is {len('view=next&prompt=') + 2 * MAX_HASH:,} "
                          f"characters long; only the first {MAX_HASH:,} were read.")


def test_hidden_parts_are_kept_once_in_order(limits):
    assert parse_hash("hide=nav,,prompt,nav", limits)[0].hide == ("nav", "prompt")


def test_percent_encoded_text_is_decoded_once_and_kept_as_data(limits):
    state, notices = parse_hash("prompt=%253Cb%253E%20%26amp%3B", limits)
    assert state.prompt == "%3Cb%3E &amp;" and notices == []


def test_a_chapter_of_the_tour_brings_its_own_view(limits):
    assert to_hash(LabState(view="next", tour=3, seed=2)) == "tour=3&seed=2"
    assert parse_hash("tour=3&hide=nav", limits) == (LabState(tour=3, hide=("nav",)), [])


def test_a_code_part_is_kept_as_text_for_the_lab_to_check(limits):
    state, notices = parse_hash("view=code&code=1.%3Cscript%3E", limits)
    assert state.code == "1.<script>" and notices == []  # code_link.decode judges it
