"""Open model… and Compare with… in Chromium against `napkin-gpt serve`: every file type the
lab writes opens (by the picker and by a drop) and predicts what its weights predict here;
trained, downloaded and reopened it predicts the same; each comparison's KL and agreement are
the ones computed here from the weights; every hostile file is refused with the lab still
working; a reload keeps the opened model and Back brings the shipped one."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from app.session.gguf_io import read_gguf
from app.session.session import DEFAULT_PROMPT
from app.views.parts.markup import visible
from engine.char_tokenizer import CharTokenizer
from engine.model import GPTConfig
from engine.quant import is_block_matrix, quantize_model
from engine.weights import read_weights_zip, weights_zip
from tests.support.browser import drop_file, screenshot, wait_until
from tests.support.model_files import (
    hostile_files,
    kl_and_agreement,
    next_token,
    shipped_files,
)
from tests.support.models import random_model
from tests.support.serve import open_lab

pytest.importorskip("gguf", reason="the gguf package is not installed (pip install -e '.[app]')")


@pytest.fixture(scope="module")
def files():
    return shipped_files()


def read(data: bytes):
    return (read_weights_zip if data.startswith(b"PK") else read_gguf)(data)


def pick(page, name: str, data: bytes) -> None:
    page.locator("input[type=file]").set_input_files(
        {"name": name, "mimeType": "application/octet-stream", "buffer": data})


def drop(page, name: str, data: bytes) -> None:
    drop_file(page, name, data)


def opened(page, name: str) -> float:
    """Seconds until the page says `name` is open."""
    started = time.monotonic()
    page.get_by_text(f"Opened {name}:").first.wait_for(timeout=60_000)
    return time.monotonic() - started


def summary(page) -> tuple[str, float] | str:
    """The Next token view's likeliest token (the repr of its visible form) and p (or what
    it says while it shows something else)."""
    text = page.get_by_text("Likeliest next token").locator("visible=true").first.inner_text()
    found = re.search(r"Likeliest next token: (.+) with p = ([\d.]+)", text)
    return (found.group(1), float(found.group(2))) if found else text


def shows(page, model, tokenizer, prompt: str = DEFAULT_PROMPT) -> None:
    """Wait until the Next token view shows what `model` predicts after `prompt`."""
    piece, p = next_token(model, tokenizer, prompt)
    want = (repr(visible(piece)), round(p, 3))
    wait_until(page, lambda: summary(page) == want, 30, f"the next token {want}")


def compared(page) -> tuple[float, str] | None:
    """The KL at the next token and the agreement the shown comparison gives."""
    table = page.locator("table.data", has_text="KL(this ‖ other)").locator("visible=true")
    if not table.count():
        return None
    text = table.first.inner_text()
    kl = re.search(r"next token\s+([\d.e+-]+) nats", text)
    agree = re.search(r"(\d+ of \d+) positions \(", text)
    return (float(kl.group(1)), agree.group(1)) if kl and agree else None


def go(page, view: str) -> None:
    page.get_by_role("button", name=view, exact=True).click()


def test_each_file_type_and_a_zip_opens_by_the_picker_and_by_a_drop(page, lab_url, files):
    open_lab(page, lab_url)
    go(page, "Next token")
    took = {}
    for kind, data in files.items():
        name = f"napkin-{kind}.{'zip' if kind == 'zip' else 'gguf'}"
        (drop if kind == "q8_0" else pick)(page, name, data)
        took[name] = opened(page, name)
        back = read(data)
        shows(page, back.model, back.tokenizer)
        assert "model=local-" in page.evaluate("location.hash")
    print("\nopened in Chromium under serve (s):", {k: round(v, 2) for k, v in took.items()})
    screenshot(page, "models-opened")
    assert page.errors == [] and page.outside == []


def test_train_download_reopen_and_compare_each_pair(page, lab_url, files, shipped, tmp_path):
    open_lab(page, lab_url)
    pick(page, "napkin-f16.gguf", files["f16"])
    opened(page, "napkin-f16.gguf")
    as_opened = read(files["f16"]).model
    go(page, "Training")
    step = page.get_by_role("button", name="Step one phase ›")
    for _ in range(5):
        step.click()
    page.get_by_text("Step 0: batch loss").first.wait_for(timeout=30_000)

    saved = {}
    for label in ("Download weights (zip)", "Download GGUF"):
        button = page.get_by_role("button", name=label).locator("visible=true")
        with page.expect_download(timeout=30_000) as info:
            button.click()
        path = tmp_path / info.value.suggested_filename
        info.value.save_as(path)
        saved[label] = path
    trained = read(saved["Download weights (zip)"].read_bytes())
    as_gguf = read(saved["Download GGUF"].read_bytes())  # F32: the same weights
    for name, w in trained.model.params.items():
        np.testing.assert_array_equal(as_gguf.model.params[name], w, err_msg=name)
    assert any(not np.array_equal(w, as_opened.params[n])
               for n, w in trained.model.params.items())  # it did train
    this, tok = trained.model, trained.tokenizer

    go(page, "Next token")
    shows(page, this, tok)
    others = {"the shipped model": shipped.model, "this model when training started": as_opened,
              "this model in Q8_0": quantize_model(this, "q8_0", is_block_matrix)[0],
              "this model in Q4_0": quantize_model(this, "q4_0", is_block_matrix)[0],
              "the model opened from a file": as_opened}
    choice = page.locator("select").filter(has_text="the shipped model").locator(
        "visible=true")
    for label, other in others.items():
        choice.select_option(label=label)
        kl, agree, positions = kl_and_agreement(this, other, tok, DEFAULT_PROMPT)
        page.get_by_text(f"This model beside {label}").locator("visible=true").first.wait_for(
            timeout=30_000)
        wait_until(page, lambda kl=kl, agree=agree, positions=positions: compared(page) == (
            pytest.approx(kl, rel=2e-3, abs=1e-9), f"{agree} of {positions}"), 30,
            f"KL {kl:.4g} and agreement {agree} of {positions} with {label}")
    go(page, "Attention")
    page.get_by_text("in both models").locator("visible=true").first.wait_for(timeout=30_000)
    screenshot(page, "models-compared-attention")

    for path in saved.values():  # reopened: the same predictions as before the download
        pick(page, path.name, path.read_bytes())
        opened(page, path.name)
        go(page, "Next token")
        shows(page, this, tok)
    assert page.errors == [] and page.outside == []


def test_each_hostile_file_is_refused_and_the_lab_keeps_working(page, lab_url, shipped):
    open_lab(page, lab_url)
    go(page, "Next token")
    shows(page, shipped.model, shipped.tokenizer)
    errors = page.locator(".note.error").locator("visible=true")
    took = {}
    for case in hostile_files():
        started = time.monotonic()
        pick(page, case.name, case.data)
        wait_until(page, lambda case=case: errors.count() and re.search(
            case.message, errors.first.inner_text()), 30, f"the refusal of {case.name}")
        took[case.name] = time.monotonic() - started
        assert "keeps the model it had" in errors.first.inner_text()
        assert "model=local" not in page.evaluate("location.hash")
    shows(page, shipped.model, shipped.tokenizer)  # the model it had, still running
    box = page.locator("textarea").first
    box.fill("JULIET:\nO Romeo")
    box.press("Tab")
    shows(page, shipped.model, shipped.tokenizer, "JULIET:\nO Romeo")
    print("\nrefused in Chromium under serve (s):", {k: round(v, 2) for k, v in took.items()})
    assert page.errors == [] and page.outside == []


def test_a_reload_keeps_the_model_back_brings_the_shipped_and_big_files_are_not_kept(
        page, lab_url, files, shipped):
    open_lab(page, lab_url)
    go(page, "Next token")
    pick(page, "napkin-q4_0.gguf", files["q4_0"])
    opened(page, "napkin-q4_0.gguf")
    page.get_by_text("Kept in this browser").first.wait_for(timeout=10_000)
    page.get_by_text("Share", exact=True).click()
    page.get_by_text("A link cannot carry the model opened from napkin-q4_0.gguf").wait_for()
    q4 = read(files["q4_0"])
    page.reload()
    page.get_by_text("Running napkin-q4_0.gguf").first.wait_for(timeout=60_000)
    shows(page, q4.model, q4.tokenizer)
    page.get_by_role("button", name="Back to the shipped model").click()
    shows(page, shipped.model, shipped.tokenizer)
    wait_until(page, lambda: "model=" not in page.evaluate("location.hash"), 10, "the address")

    tok = CharTokenizer.from_text("".join(chr(c) for c in range(33, 127)))
    big = weights_zip(random_model(GPTConfig(tok.vocab_size, 64, 4, 4, 128),
                                   dtype=np.float32), tok)
    pick(page, "big.zip", big)
    opened(page, "big.zip")
    page.get_by_text("Not kept in this browser: it is too big to keep").first.wait_for()
    assert page.evaluate("localStorage.getItem('napkin-gpt:model:v1')") is None
    page.reload()
    page.get_by_text("this browser has not kept that one").first.wait_for(timeout=60_000)
    shows(page, shipped.model, shipped.tokenizer)
    assert page.errors == [] and page.outside == []
