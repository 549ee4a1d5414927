"""Open model… in the lab, without a browser: each file the lab writes opens and predicts what
its weights predict, a hostile one is refused with the lab's model untouched, the file is
kept in the browser's storage (or said not to be), the address names it, and every view
follows a model of another shape (in Chromium: tests/browser/test_serve_models.py)."""

from __future__ import annotations

import base64
import json
import re
import time

import numpy as np
import pytest

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")
pytest.importorskip("gguf", reason="the gguf package is not installed (pip install -e '.[app]')")

from app.lab.page import VIEWS, Lab
from app.lab.urlstate import parse_hash
from app.session.gguf_io import read_gguf
from app.session.opened import ModelFileError, digest, read_model_file
from app.views.parts.model_file import MAX_KEPT_CHARS, ModelBar
from engine.char_tokenizer import CharTokenizer
from engine.model import GPTConfig
from engine.weights import read_weights_zip, weights_zip
from tests.support.model_files import hostile_files, shipped_files
from tests.support.models import random_model

LOOSE_SECONDS = 5.0  # "within a second" is measured in tests/bench/bench_open_files.py


@pytest.fixture(scope="module")
def files():
    return shipped_files()


def sent(name: str, data: bytes) -> dict:
    """What the page's FilePicker sends for a file."""
    return {"name": name, "size": len(data), "data": base64.b64encode(data).decode(),
            "error": "", "count": 1}


def file_model(data: bytes):
    return (read_weights_zip if data.startswith(b"PK") else read_gguf)(data).model


@pytest.mark.parametrize("kind", ["f32", "f16", "q8_0", "q4_0", "zip"])
def test_each_file_the_lab_writes_opens_and_predicts_what_its_weights_do(session, files, kind):
    data = files[kind]
    assert session.opened.open(f"napkin.{kind}", data)
    expected = file_model(data)
    ids = np.array(session.ids)
    np.testing.assert_allclose(session.trace.logits[0], expected.forward(ids)[0], atol=1e-5)
    assert session.model_file == f"napkin.{kind}" and session.opened.digest == digest(data)
    assert session.corpus_name == "Shakespeare" and len(session.val_tokens)  # trains on it
    assert "Opened napkin." in session.message


def test_train_download_and_reopen_give_the_same_predictions(session, files):
    from app.views.parts.gguf_download import GGUFDownload

    assert session.opened.open("napkin-q8_0.gguf", files["q8_0"])
    for _ in range(2):
        session.training.train_once()
    assert len(session.training.history) == 2 and session.model_file == "napkin-q8_0.gguf"
    download = GGUFDownload(session=session, fmt="f32", weights=True, active=True)
    gguf_file, zip_file = download._bytes(), download._weights_file().getvalue()
    trained = session.trace.logits[0].copy()
    for name, data in (("trained.gguf", gguf_file), ("trained.zip", zip_file)):
        session.reset_weights()
        assert session.opened.open(name, data)
        np.testing.assert_allclose(session.trace.logits[0], trained, atol=1e-5, err_msg=name)


def test_a_model_of_another_vocabulary_and_shape_has_no_text_and_every_view_follows(session):
    tok = CharTokenizer.from_text("abcdefgh ijk\n")
    model = random_model(GPTConfig(tok.vocab_size, 16, 2, 2, 32), dtype=np.float32)
    lab = Lab(session=session)
    for key in VIEWS:  # every view built for the shipped shape first
        lab.view = key
    assert session.opened.open("small.zip", weights_zip(model, tok))
    assert session.config == model.config and session.corpus_name == ""
    assert "does not cover the shipped text" in session.message
    session.prompt = "abc abc"
    for key in VIEWS:  # each view draws the new shape when shown
        lab.view = key
    attention = lab.views["attention"]
    assert len(attention._switch_groups) == 2
    assert [len(g.options) for g in attention._switch_groups] == [2, 2]
    assert list(attention.grid.figure.y_range.factors) == ["block 1", "block 0"]
    residual = lab.views["residual"]
    assert len(residual.guesses.y_range.factors) == len(residual.lines.xaxis[0].ticker.ticks)
    assert "2 blocks of 2 heads, width 32, context 16" in lab._footer.object


def test_each_hostile_file_is_refused_and_the_lab_keeps_its_model(session):
    model, params = session.model, {n: p.copy() for n, p in session.model.params.items()}
    trace = session.trace
    for case in hostile_files():
        started = time.perf_counter()
        assert not session.opened.open(case.name, case.data), case.name
        assert time.perf_counter() - started < LOOSE_SECONDS, case.name
        assert re.search(case.message, session.message), (case.name, session.message)
        assert session.message_kind == "error" and "keeps the model it had" in session.message
        assert session.model is model and session.trace is trace and not session.model_file
    for name, p in params.items():
        np.testing.assert_array_equal(session.model.params[name], p)
    session.prompt = "ROMEO:"  # the lab still runs
    assert session.trace is not trace


def test_a_file_over_the_limit_is_refused_unread():
    from engine.ceiling import MAX_FILE_BYTES

    with pytest.raises(ModelFileError, match=r"big\.gguf is 67,108,865 bytes"):
        read_model_file(b"GGUF" + bytes(MAX_FILE_BYTES - 3), "big.gguf")


# ---- the bar: picker, storage, the address -------------------------------------------------

def test_the_bar_opens_what_the_page_sends_and_keeps_it(session, files):
    bar = ModelBar(session=session)
    bar.picker.file = sent("napkin-f16.gguf", files["f16"])
    assert session.model_file == "napkin-f16.gguf"
    kept = json.loads(bar.store.value)
    assert kept["digest"] == digest(files["f16"]) and kept["name"] == "napkin-f16.gguf"
    assert base64.b64decode(kept["data"]) == files["f16"]
    assert "Kept in this browser" in bar._status.object and bar.back.visible
    bar.store.error = "full"  # the browser refused to store it
    assert "Not kept in this browser: this browser&#x27;s storage is full" in bar._status.object
    bar.back.clicks += 1
    assert session.model_file == "" and bar.store.value == "" and not bar.back.visible


def test_a_file_too_big_to_keep_is_opened_but_not_kept(session):
    tok = CharTokenizer.from_text("".join(chr(c) for c in range(33, 127)))
    model = random_model(GPTConfig(tok.vocab_size, 64, 4, 4, 128), dtype=np.float32)
    data = weights_zip(model, tok)
    assert len(base64.b64encode(data)) > MAX_KEPT_CHARS
    bar = ModelBar(session=session)
    bar.store.value = "something kept before"
    bar.picker.file = sent("big.zip", data)
    assert session.model_file == "big.zip" and bar.store.value == ""
    assert "too big to keep in this browser" in bar._status.object


def test_what_the_page_sends_is_checked_before_it_is_decoded(session):
    bar = ModelBar(session=session)
    model = session.model
    for bad, words in [({"name": "x.gguf", "size": 2**40, "data": ""}, "x.gguf is 1,099,5"),
                       ({"name": "x.gguf", "size": 4, "data": "***"}, "cannot read"),
                       ({"name": "x.gguf", "size": 4, "error": "NotReadableError"},
                        "could not read x.gguf: NotReadableError")]:
        bar.picker.file = {"count": 1, **bad}
        assert words in session.message and session.model is model


def test_a_reload_restores_the_model_the_address_names_if_this_browser_kept_it(session, files):
    record = json.dumps({"name": "napkin-q4_0.gguf", "digest": digest(files["q4_0"]),
                         "data": base64.b64encode(files["q4_0"]).decode()})
    lab = Lab(session=session, state=f"#view=next&model=local-{digest(files['q4_0'])}")
    assert session.model_file == ""  # the browser has not reported its storage yet
    lab.model_bar.store.value = record
    lab.model_bar.store.loaded = True
    assert session.model_file == "napkin-q4_0.gguf"
    assert lab.share.state.endswith(f"model=local-{digest(files['q4_0'])}")
    assert "cannot carry the model opened from napkin-q4_0.gguf" in lab.share.local_note.object


def test_an_address_naming_a_model_this_browser_lacks_says_so(session, files):
    lab = Lab(session=session, state="#model=local-0123456789ab")
    lab.model_bar.store.value = json.dumps({"name": "other.gguf", "digest": "ffffffffffff",
                                            "data": ""})
    lab.model_bar.store.loaded = True
    assert session.model_file == ""
    assert "A link cannot carry a model" in lab.model_bar._status.object
    lab.model_bar.picker.file = sent("napkin-f32.gguf", files["f32"])
    session.reset_weights()  # the address asked once; it is not asked again
    assert "A link cannot carry a model" not in lab.model_bar._status.object
    _, notices = parse_hash("model=../../etc", session)
    assert "is not local-<12 hex digits>" in notices[0]
