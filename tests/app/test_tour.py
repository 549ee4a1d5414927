"""The tour without a browser: every chapter narrated from a live session, its numbers equal to
the session's own and following the prompt and training; the questions checked against the
live model, a wrong and a right answer each; the page showing a chapter and leaving it."""

from __future__ import annotations

import math
import re
import string

import numpy as np
import pytest

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

from app.lab.page import Lab
from app.lab.urlstate import to_hash
from app.tour import CHAPTERS
from app.tour.beyond import STEP
from app.tour.chapter import NOT_QUITE, RIGHT, narrate
from app.tour.flow import ATTENTION, SAMPLING, TEXT, WINDOWS, other_temperature
from app.views import VIEWS
from engine.sampling import SamplingSettings, next_token_probs
from tests.support.models import ROOT

OTHER_PROMPT = "JULIET:\nWherefore art thou Romeo? Deny thy father"


@pytest.fixture(scope="module")
def lab(corpus_text):
    """One lab for the module; each test leaves its prompt and chapter as it found them."""
    from app.session.loader import load_session
    from tests.support.models import WEIGHTS_TINY

    return Lab(session=load_session(WEIGHTS_TINY, corpus=corpus_text[:40_000]))


@pytest.fixture
def tour(lab):
    s = lab.session
    prompt = s.prompt
    yield lab.tour
    lab.tour.chapter = 0
    s.prompt = prompt


def chapter(key: str) -> int:
    """The number (from 1) of the chapter whose title starts with `key`."""
    return next(n for n, c in enumerate(CHAPTERS, 1) if c.title.startswith(key))


def text_of(html: str) -> str:
    return re.sub(r"<[^>]+>", "", html).replace("&#x27;", "'").replace("&amp;", "&")


def row(values, spec="+.3f") -> str:
    return ", ".join(format(float(v), spec) for v in values)


# ---- the chapters ------------------------------------------------------------------------------

def test_the_tour_has_at_least_twelve_chapters_each_a_real_section_of_a_view(lab):
    assert len(CHAPTERS) >= 12
    assert sum(c.checkpoint is not None for c in CHAPTERS) >= 6
    for n, c in enumerate(CHAPTERS, 1):
        assert c.view in VIEWS, c.title
        lab.tour.chapter = n
        assert c.section in lab.views[c.view].sections(), c.title
        assert 2 <= text_of(lab.tour._narration.object).count(". ") + 1 <= 7, c.title
    lab.tour.chapter = 0


def expected(s, key: str) -> dict:
    """The numbers a chapter must show, computed here from the session itself."""
    ids, q, cfg, p = s.ids, s.query_position, s.config, s.model.params
    probs = s.trace.probs[0, -1]
    return {
        "From text": dict(n_tokens=len(ids), first_id=ids[0], last_id=ids[-1],
                          V=cfg.vocab_size),
        "The vocabulary": dict(V=cfg.vocab_size, distinct=len(set(ids)), id=ids[q],
                               position=q),
        "Windows": dict(n_tokens=len(s.train_tokens), T=cfg.block_size,
                        n_windows=len(s.train_tokens) - cfg.block_size,
                        x=", ".join(str(t) for t in s.train_tokens[s.example_start:][:6])),
        "The embedding": dict(id=ids[q], q=q, w=row(p["wte"][ids[q]][:3]),
                              p=row(p["wpe"][q][:3]),
                              e=row(p["wte"][ids[q]][:3] + p["wpe"][q][:3])),
        "One attention": dict(n_keys=q + 1, hs=cfg.n_embd // cfg.n_head,
                              n_hidden=len(ids) * (len(ids) - 1) // 2),
        "Many heads": dict(n_heads=cfg.n_layer * cfg.n_head),
        "The MLP": dict(final=repr(s.pieces([int(np.argmax(probs))])[0].replace(" ", "␣")
                                   .replace("\n", "⏎")),
                        p_final=pytest.approx(float(probs.max()), abs=1e-5),
                        hidden=4 * cfg.n_embd),
        "Logits": dict(raw_p=pytest.approx(float(probs.max()), abs=1e-6),
                       p=pytest.approx(float(s.next_probs.max())),
                       kept=int(np.count_nonzero(s.next_probs))),
        "The generation": dict(n=len(ids), kv=2 * cfg.n_layer * len(ids) * cfg.n_embd),
        "One training": dict(n_params=sum(a.size for a in p.values()), V=cfg.vocab_size),
        "Learning from": dict(lnV=pytest.approx(math.log(cfg.vocab_size))),
        "Scale": dict(ours=sum(a.size for a in p.values())),
        "Making it": {},
        "Changing": dict(lines=len((ROOT / "engine" / "layers.py").read_text().splitlines())),
    }[key]


@pytest.mark.parametrize("key", ["From text", "The vocabulary", "Windows", "The embedding",
                                 "One attention", "Many heads", "The MLP", "Logits",
                                 "The generation", "One training", "Learning from", "Scale",
                                 "Making it", "Changing"])
def test_the_narrations_numbers_are_the_sessions_and_follow_the_prompt(tour, key):
    s = tour.session
    tour.chapter = chapter(key)
    for prompt in (s.prompt, OTHER_PROMPT):
        s.prompt = prompt
        facts = tour.facts
        for name, value in expected(s, key).items():
            if value is not None:
                assert facts[name] == value, (key, name)
        shown = text_of(tour._narration.object)
        template = CHAPTERS[tour.chapter - 1].text[facts.get("case", "main")]
        for name in {field for _, field, _, _ in string.Formatter().parse(template) if field}:
            value = facts[name]  # every whole number the narration names is in it
            if isinstance(value, int) and not isinstance(value, bool):
                assert f"{value:,}" in shown or str(value) in shown, (key, name)
        assert narrate(CHAPTERS[tour.chapter - 1], tour.experiments)[0] in \
            tour._narration.object


def test_narrations_that_use_the_prompt_change_with_it(tour):
    s = tour.session
    for key in ("From text", "One attention", "Logits", "The generation", "The MLP"):
        tour.chapter = chapter(key)
        before = tour._narration.object
        s.prompt = OTHER_PROMPT
        assert tour._narration.object != before, key
        s.prompt = "ROMEO:\nBut soft, what light"


def test_a_training_step_changes_the_training_chapters(tour):
    s = tour.session
    tour.chapter = chapter("One training")
    assert tour.facts["case"] == "before"
    report = s.training.train_once()
    assert tour.facts["case"] == "after" and tour.facts["loss"] == report.loss
    assert f"{report.loss:.3f}" in text_of(tour._narration.object)
    assert tour.facts["norm"] == report.grad_norm and tour.facts["step"] == report.step
    s.reset_weights()


def test_the_gguf_sizes_are_the_files_the_lab_writes(tour):
    pytest.importorskip("gguf", reason="the gguf package is not installed")
    from app.session.gguf_io import gguf_bytes

    s = tour.session
    tour.chapter = chapter("Making it")
    for fmt, name in (("f32", "f32"), ("q8_0", "q8"), ("q4_0", "q4")):
        assert tour.facts[name] == len(gguf_bytes(s.model, s.tokenizer, fmt))


# ---- predict, then reveal ---------------------------------------------------------------------

def right_answer(s, c, options: list[str]) -> int | None:
    """The right option of chapter `c`, found here without its check (None: not redone
    here; tests/engine/test_experiments.py checks the experiment behind it)."""
    if c is ATTENTION:
        q = s.query_position
        return int(np.argmax(s.trace.blocks[s.layer].att[0, s.head, q, :q + 1]))
    if c is WINDOWS:
        return options.index(str(s.config.block_size))
    if c is SAMPLING:
        def top(t):
            settings = SamplingSettings(t, s.top_k or None, s.top_p)
            return next_token_probs(s.trace.logits[0, -1], settings).max()
        p1, p2 = top(s.temperature), top(other_temperature(s.temperature))
        return 0 if p2 > p1 + 1e-9 else 1 if p2 < p1 - 1e-9 else 2
    if c is STEP:
        return options.index(f"{math.log(s.config.vocab_size):.2f}")
    if c is TEXT:
        n, bpe = len(s.ids), len(s.bpe.encode(s.tokenizer.decode(s.ids)))
        return 0 if bpe < n else 1 if bpe == n else 2
    return None


@pytest.mark.parametrize("n", [n for n, c in enumerate(CHAPTERS, 1) if c.checkpoint])
def test_each_question_takes_a_wrong_and_a_right_answer(tour, n):
    tour.chapter = n
    c = CHAPTERS[n - 1]
    options = tour.choice.options
    assert options == c.checkpoint.options(tour.experiments) and len(options) >= 2
    right, _ = c.checkpoint.check(tour.experiments, 0)
    found = right_answer(tour.session, c, options)
    if found is not None:
        assert right == found, c.title
    assert tour.correct is None and tour._verdict.object.count("note") == 0
    tour.answer((right + 1) % len(options))
    assert tour.correct is False and NOT_QUITE in tour._verdict.object
    assert tour.choice.marks[right] == "right" and "wrong" in tour.choice.marks
    tour.answer(right)
    assert tour.correct is True and RIGHT in tour._verdict.object
    assert re.search(r"\d", text_of(tour._verdict.object))  # the model's own numbers


def test_an_answer_is_checked_again_when_the_model_changes(tour):
    s = tour.session
    tour.chapter = chapter("Logits")
    right, _ = CHAPTERS[tour.chapter - 1].checkpoint.check(tour.experiments, 0)
    tour.answer(right)
    before = tour._verdict.object
    s.temperature = 0.3
    assert tour.correct is True and tour._verdict.object != before  # new numbers
    s.temperature = 0.8


def test_the_head_question_follows_the_prompt_and_drops_an_old_answer(tour):
    s = tour.session
    tour.chapter = chapter("One attention")
    tour.answer(0)
    s.prompt = OTHER_PROMPT
    assert tour.choice.options == [p.replace(" ", "␣").replace("\n", "⏎")
                                   for p in s.pieces(s.ids)]
    assert tour.pick == -1 and tour.correct is None


# ---- the page in the tour ---------------------------------------------------------------------

def test_a_chapter_brings_its_section_forward_and_leaving_puts_every_view_back(lab, tour):
    page = lab
    tour.chapter = chapter("One attention")
    view = page.views["attention"]
    assert page.view == "attention" and view.focus == "steps"
    assert tour.header.visible and tour.footer.visible and not page._title.visible
    assert to_hash(page.state()) == f"tour={tour.chapter}"
    shown = [name for name, column in view._sections.items() if not column.css_classes]
    assert shown == ["steps"]
    tour.more = True  # "More of this view": every section, in its place
    assert all(c.css_classes == [] for c in view._sections.values()) and view.unfold
    tour.turn(1)
    assert view.focus == "roles" and not tour.more and not view.unfold
    tour.turn(1)
    assert page.view == "residual" and view.focus == ""
    assert page.views["residual"].focus == "lens"
    page.view = "tokens"  # another view from the list: the tour ends
    assert tour.chapter == 0 and all(v.focus == "" for v in page.views.values())
    assert all(c.css_classes == [] for v in page.views.values() for c in v._sections.values())
    assert page._title.visible and not tour.header.visible and not tour.footer.visible


def test_a_chapter_sets_its_picture_to_what_its_question_asks_about(lab, tour):
    tour.chapter = chapter("Making it")
    assert lab.views["quantization"].lab.fmt == "q4_0"
    lab.views["quantization"].lab.fmt = "q8_0"  # the reader may look at another
    tour.more = True
    assert lab.views["quantization"].lab.fmt == "q8_0"


def test_the_arrow_keys_turn_the_pages_in_the_tour(lab, tour):
    page = lab
    tour.chapter = 3
    for key, then in (("ArrowRight", 4), ("ArrowRight", 5), ("ArrowLeft", 4)):
        page.keyboard.param.update(key=key, presses=page.keyboard.presses + 1)
        assert tour.chapter == then
    tour.chapter = len(CHAPTERS)
    tour.turn(1)
    assert tour.chapter == len(CHAPTERS) and tour.next.disabled


def test_a_link_opens_a_chapter_with_parts_hidden(session):
    page = Lab(session=session, state="tour=9&hide=prompt,nav,transport")
    assert page.tour.chapter == 9 and page.view == CHAPTERS[8].view
    assert len(page.controls.fold.objects) == 2  # the tagline and Open model: no prompt, no views
    assert not page.link_notes
    assert "Chapter 9 of" in page.tour._progress.object
    assert page.share.title.startswith("tour, chapter 9")
    assert 'title="Napkin GPT: tour, chapter 9' in page.share.snippet.value
    assert 'src="embed.html#tour=9&amp;hide=prompt%2Cnav%2Ctransport"' in \
        page.share.snippet.value


def test_every_chapter_tells_its_story_without_training_text_and_on_the_readers_text():
    from app.session.loader import load_session
    from tests.support.models import WEIGHTS_TINY

    bare = Lab(session=load_session(WEIGHTS_TINY, corpus=""))
    own = Lab(session=load_session(WEIGHTS_TINY, corpus=""))
    own.session.training.train_on_text("the cat sat on the mat and the dog sat on the log. " * 6)
    for page in (bare, own):
        for n, c in enumerate(CHAPTERS, 1):
            page.tour.chapter = n
            assert "{" not in page.tour._narration.object, c.title
            if c.checkpoint:
                page.tour.answer(0)
                assert page.tour._verdict.object.count("note") == 1, c.title
    bare.tour.chapter = CHAPTERS.index(WINDOWS) + 1
    assert bare.tour.facts["case"] == "no_text"
    bare.tour.chapter = len(CHAPTERS)
    bare.tour.answer(0)
    assert "needs some training text" in bare.tour._verdict.object
    assert bare.tour.correct is None
