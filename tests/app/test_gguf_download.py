"""'Download GGUF' in the lab: the file comes from the model the reader is looking at, its size
is shown before, and a model that cannot be exported says why (in Chromium:
tests/browser/test_serve_gguf_download.py)."""

from __future__ import annotations

import numpy as np
import pytest

from app.session.gguf_io import gguf_bytes, load_gguf

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")
pytest.importorskip("gguf", reason="the gguf package is not installed (pip install -e '.[app]')")


def read(data: bytes, tmp_path):
    path = tmp_path / "download.gguf"
    path.write_bytes(data)
    return load_gguf(path)


def test_quantization_view_offers_its_chosen_type(session, tmp_path):
    from app.views.quantization import QuantizationView

    view = QuantizationView(session=session)
    download = view.download
    assert download.size is None  # nothing computed while the view is hidden
    view.active = True
    assert download.fmt == "q8_0" and download._button.filename == "napkin-gpt-q8_0.gguf"
    file = download._file().getvalue()
    assert download.size == len(file)
    assert "napkin-gpt-q8_0.gguf" in download._note.object
    assert f"{len(file):,} bytes" in download._note.object

    view.lab.fmt = "q4_0"
    file = download._file().getvalue()
    assert download._button.filename == "napkin-gpt-q4_0.gguf" and download.size == len(file)
    back = read(file, tmp_path)
    assert back.tokenizer.chars == session.tokenizer.chars
    assert not download._button.disabled


def test_training_view_downloads_the_model_as_trained(session, tmp_path):
    from app.views.training import TrainingView

    view = TrainingView(session=session)
    view.active = True
    download = view.download
    assert download.fmt == "f32"
    for _ in range(5):  # one training step: batch, forward, loss, backward, update
        session.mode = "train"
        session.advance()
    assert session.weights_version > 0
    back = read(download._file().getvalue(), tmp_path)
    for name, w in session.model.params.items():
        np.testing.assert_array_equal(back.model.params[name], w, err_msg=name)

    line = "To be, or not to be: that is the question. "
    session.training.train_on_text(line * 40)
    assert download.size == len(gguf_bytes(session.model, session.tokenizer, "f32",
                                           "napkin-gpt trained on your text"))
    back = read(download._file().getvalue(), tmp_path)
    assert back.tokenizer.chars == session.tokenizer.chars
    assert back.model.config.vocab_size == len(set(line)) + 1


def test_a_model_that_cannot_be_exported_says_why(session):
    from app.views.parts.gguf_download import GGUFDownload

    session.model.params["h.0.mlp.c_fc.b"][0] = np.nan
    download = GGUFDownload(session=session, fmt="f16", active=True)
    assert download._button.disabled
    assert "Cannot export" in download._note.object and "h.0.mlp.c_fc.b" in download._note.object
