"""Open model… and Compare with… in the static page, with Python in Pyodide, on the one lab
the browser room boots (`lab`, tests/browser/conftest.py): every file type the lab writes
opens by the picker or a drop and computes, in the worker, the logits its weights give here
in CPython; trained, downloaded and reopened it gives the same; each comparison's KL and
agreement are the ones computed here; every hostile file is refused with the lab still
running; the kept file comes back when the address names it. The shipped model is restored
at the end. Needs NAPKIN_PYODIDE_DIST (see tests/support/pyodide.py)."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest

from app.session.gguf_io import read_gguf
from app.session.opened import digest
from engine.quant import is_block_matrix, quantize_model
from engine.weights import read_weights_zip
from tests.support.browser import drop_file, screenshot, wait_until
from tests.support.model_files import hostile_files, shipped_files
from tests.support.pyodide import app, python, wait_in_worker

pytest.importorskip("gguf", reason="the gguf package is not installed (pip install -e '.[app]')")
SESSION = "bridge.lab.session"


@pytest.fixture(scope="module")
def files():
    return shipped_files()


@pytest.fixture(scope="module")
def logged(lab) -> int:
    """How many errors the page had logged before this module's tests (earlier modules
    provoke some on purpose)."""
    return lab.evaluate("napkin.log.errors.length")


def read(data: bytes):
    return (read_weights_zip if data.startswith(b"PK") else read_gguf)(data)


def pick(page, name: str, data: bytes) -> None:
    app(page).locator("input[type=file]").set_input_files(
        {"name": name, "mimeType": "application/octet-stream", "buffer": data})


def drop(page, name: str, data: bytes) -> None:
    drop_file(app(page), name, data)


def open_file(page, name: str, data: bytes, by=pick) -> float:
    """Seconds until the worker runs the model of the file `name`."""
    started = time.monotonic()
    by(page, name, data)
    wait_in_worker(page, f"{SESSION}.model_file == {name!r} and "
                         f"{SESSION}.opened.digest == {digest(data)!r}", 120)
    return time.monotonic() - started


def worker_logits(page) -> tuple[list[int], np.ndarray]:
    """The prompt's ids and the logits the worker's model computed for them."""
    ids, logits = json.loads(python(page, f"import json; s = {SESSION}\n"
                                          "json.dumps([s.ids, s.trace.logits[0].tolist()])"))
    return ids, np.array(logits)


def computes(page, model) -> None:
    """The worker's model gives, on its prompt, the logits `model` gives here in CPython."""
    ids, logits = worker_logits(page)
    np.testing.assert_allclose(logits, model.forward(np.array(ids))[0], atol=2e-5)


def test_each_file_type_and_a_zip_opens_in_the_page(lab, files, logged):
    took = {}
    for kind, data in files.items():
        name = f"napkin-{kind}.{'zip' if kind == 'zip' else 'gguf'}"
        took[name] = open_file(lab, name, data, drop if kind == "q8_0" else pick)
        computes(lab, read(data).model)
        app(lab).get_by_text(f"Opened {name}:").first.wait_for(timeout=60_000)
        assert f"model=local-{digest(data)}" in lab.evaluate("location.hash")
    print("\nopened in Pyodide (s):", {k: round(v, 2) for k, v in took.items()})
    screenshot(lab, "pyodide-models-opened")
    assert lab.errors == []


def test_train_download_reopen_and_compare_each_pair(lab, files, shipped, tmp_path):
    open_file(lab, "napkin-f16.gguf", files["f16"])
    as_opened = read(files["f16"]).model
    app(lab).get_by_role("button", name="Training", exact=True).click()
    step = app(lab).get_by_role("button", name="Step one phase ›")
    step.first.wait_for(timeout=120_000)
    for _ in range(5):
        step.click()
    wait_in_worker(lab, f"len({SESSION}.training.history) == 1", 120)

    saved = {}
    for label in ("Download weights (zip)", "Download GGUF"):
        with lab.expect_download(timeout=120_000) as info:
            app(lab).get_by_role("button", name=label).click()
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        saved[label] = path
    trained = read(saved["Download weights (zip)"].read_bytes())
    for name, w in read(saved["Download GGUF"].read_bytes()).model.params.items():
        np.testing.assert_array_equal(trained.model.params[name], w, err_msg=name)
    this = trained.model
    computes(lab, this)

    app(lab).get_by_role("button", name="Next token", exact=True).click()
    ids, _ = worker_logits(lab)
    others = {"shipped": shipped.model, "start": as_opened, "file": as_opened,
              "q8_0": quantize_model(this, "q8_0", is_block_matrix)[0],
              "q4_0": quantize_model(this, "q4_0", is_block_matrix)[0]}
    for target, other in others.items():
        python(lab, f"{SESSION}.comparison.target = {target!r}")
        wait_in_worker(lab, f"{SESSION}.comparison.other is not None", 120)
        kl, agreement = json.loads(python(lab, f"import json; c = {SESSION}.comparison\n"
                                               "json.dumps([c.kl, c.agreement])"))
        p, q = (softmax64(m.forward(np.array(ids))[0]) for m in (this, other))
        expected = np.sum(np.where(p[-1] > 0, p[-1] * (np.log(p[-1]) - np.log(q[-1])), 0))
        # float32 logits near 10 are exact to about 1e-6, and the browser's SIMD matrix
        # product sums in another order than NumPy here: a KL agrees to that, absolutely
        assert kl == pytest.approx(expected, rel=1e-4, abs=1e-6), target
        assert agreement == np.mean(p.argmax(-1) == q.argmax(-1)), target
    app(lab).get_by_text("This model beside").first.wait_for(timeout=60_000)
    screenshot(lab, "pyodide-models-compared")
    python(lab, f"{SESSION}.comparison.target = 'none'")

    for path in saved.values():  # reopened: the same predictions as before the download
        open_file(lab, path.name, path.read_bytes())
        computes(lab, this)
    assert lab.errors == []


def softmax64(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def test_each_hostile_file_is_refused_in_the_page(lab, files):
    open_file(lab, "napkin-q8_0.gguf", files["q8_0"])
    q8 = read(files["q8_0"]).model
    errors = app(lab).locator(".note.error")
    took = {}
    for case in hostile_files():
        started = time.monotonic()
        pick(lab, case.name, case.data)
        wait_until(lab, lambda case=case: re.search(
            case.message, python(lab, f"{SESSION}.message")), 120,
            f"the refusal of {case.name}")
        took[case.name] = time.monotonic() - started
        assert python(lab, f"{SESSION}.model_file") == "napkin-q8_0.gguf"
    wait_until(lab, lambda: errors.count() and re.search(
        hostile_files()[-1].message, errors.first.inner_text()), 60, "the last refusal shown")
    computes(lab, q8)  # the model it had, still running
    print("\nrefused in Pyodide (s):", {k: round(v, 2) for k, v in took.items()})
    assert lab.errors == []


def test_the_kept_model_comes_back_when_the_address_names_it_and_back_restores_shipped(
        lab, files, shipped, logged):
    open_file(lab, "napkin-q4_0.gguf", files["q4_0"])
    kept = json.loads(lab.evaluate("localStorage.getItem('napkin-gpt:model:v1')"))
    assert kept["digest"] == digest(files["q4_0"]) and kept["name"] == "napkin-q4_0.gguf"
    address = lab.evaluate("location.hash")
    python(lab, f"{SESSION}.reset_weights()")  # the shipped weights, the file still kept
    wait_until(lab, lambda: "model=" not in lab.evaluate("location.hash"), 60, "the address")
    lab.evaluate(f"location.hash = {address!r}")  # the address naming the kept model
    wait_in_worker(lab, f"{SESSION}.model_file == 'napkin-q4_0.gguf'", 120)
    computes(lab, read(files["q4_0"]).model)
    app(lab).get_by_role("button", name="Back to the shipped model").click()
    wait_in_worker(lab, f"{SESSION}.model_file == '' and {SESSION}.config.vocab_size == 77",
                   120)
    computes(lab, shipped.model)
    assert lab.evaluate("localStorage.getItem('napkin-gpt:model:v1')") is None
    assert lab.errors == [] and lab.evaluate("napkin.log.errors.length") == logged
