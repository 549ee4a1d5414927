"""Weights on disk: a round trip, every kind of damage refused by name, the shipped weights."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pytest

from engine import GPT, GPTConfig
from engine.char_tokenizer import CharTokenizer
from engine.weights import FORMAT_VERSION, WeightsError, load_weights, save_weights
from tests.support.models import WEIGHTS_TINY

TEXT = "to be, or not to be: that is the question.\n"


@pytest.fixture
def folder(tmp_path):
    tok = CharTokenizer.from_text(TEXT)
    model = GPT(GPTConfig(tok.vocab_size, 8, 1, 2, 8), seed=3)
    return save_weights(tmp_path / "w", model, tok, {"note": "test"}), model


def test_round_trip_keeps_every_array_config_and_tokenizer(folder):
    path, model = folder
    ck = load_weights(path)
    assert ck.model.config == model.config and ck.training == {"note": "test"}
    assert list(ck.model.params) == list(model.params)
    for name, p in model.params.items():
        np.testing.assert_array_equal(ck.model.params[name], p)
        assert ck.model.params[name].dtype == np.float32
    assert ck.tokenizer.encode(TEXT) == CharTokenizer.from_text(TEXT).encode(TEXT)


def rewrite_npz(path, change):
    """Rewrite model.npz with `change(arrays)` applied, keeping config.json's checksum
    in step (so the check under test is the one that fires)."""
    with np.load(path / "model.npz") as f:
        arrays = {k: f[k] for k in f.files}
    change(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    (path / "model.npz").write_bytes(buffer.getvalue())
    edit_meta(path, lambda m: m.update(npz_sha256=__import__("hashlib").sha256(
        buffer.getvalue()).hexdigest()))


def edit_meta(path, change):
    meta = json.loads((path / "config.json").read_text())
    change(meta)
    (path / "config.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("damage, message", [
    (lambda p: rewrite_npz(p, lambda a: a.pop("h.0.mlp.c_fc.b")),
     "missing tensors in model.npz: h.0.mlp.c_fc.b"),
    (lambda p: rewrite_npz(p, lambda a: a.update(extra=np.zeros(3, np.float32))),
     "unexpected tensors in model.npz: extra"),
    (lambda p: rewrite_npz(p, lambda a: a.update(wpe=np.zeros((9, 8), np.float32))),
     r"tensor wpe has shape \(9, 8\), expected \(8, 8\)"),
    (lambda p: rewrite_npz(p, lambda a: a.update(wte=a["wte"].astype(np.float64))),
     "tensor wte is float64, config.json says float32"),
    (lambda p: rewrite_npz(p, lambda a: a["ln_f.g"].__setitem__(0, np.nan)),
     "tensor ln_f.g holds 1 NaN or infinite values"),
    (lambda p: (p / "model.npz").write_bytes((p / "model.npz").read_bytes()[:-10]),
     "checksum mismatch"),
    (lambda p: edit_meta(p, lambda m: m.update(format_version=FORMAT_VERSION + 1)),
     f"unknown format version {FORMAT_VERSION + 1}"),
    (lambda p: edit_meta(p, lambda m: m.update(format="something-else")),
     "not a napkin-gpt weights file"),
    (lambda p: edit_meta(p, lambda m: m.pop("npz_sha256")), 'lacks the field "npz_sha256"'),
    (lambda p: edit_meta(p, lambda m: m["config"].update(n_head=3)),
     "bad model config.*divisible by n_head"),
    (lambda p: edit_meta(p, lambda m: m["tokenizer"].update(kind="morse")),
     "bad tokenizer.*unknown tokenizer kind 'morse'"),
    (lambda p: edit_meta(p, lambda m: m["tokenizer"]["chars"].pop(0)),
     "the tokenizer has .* tokens but the model expects vocab_size"),
    (lambda p: (p / "config.json").write_text("{not json"), "config.json is not valid JSON"),
    (lambda p: (p / "model.npz").unlink(), "cannot read .*model.npz"),
    (lambda p: (p / "config.json").unlink(), "cannot read .*config.json"),
])
def test_each_damaged_folder_is_refused_with_a_message_naming_the_problem(folder, damage,
                                                                          message):
    path, _ = folder
    damage(path)
    with pytest.raises(WeightsError, match=message):
        load_weights(path)


def test_npz_that_is_not_an_archive_is_refused(folder):
    path, _ = folder
    junk = b"PK\x03\x04 this is not really a zip"
    (path / "model.npz").write_bytes(junk)
    edit_meta(path, lambda m: m.update(npz_sha256=__import__("hashlib").sha256(junk).hexdigest()))
    with pytest.raises(WeightsError, match="cannot be read as arrays"):
        load_weights(path)


def test_float64_weights_round_trip(tmp_path):
    tok = CharTokenizer.from_text("abc")
    model = GPT(GPTConfig(tok.vocab_size, 4, 1, 1, 4), dtype=np.float64)
    ck = load_weights(save_weights(tmp_path, model, tok))
    assert ck.model.dtype == np.float64


# ---- the shipped weights ----------------------------------------------------------------

def test_shipped_weights_fit_the_budget(shipped):
    config = shipped.model.config
    assert config.n_params <= 250_000
    assert (WEIGHTS_TINY / "model.npz").stat().st_size <= 1_000_000
    from engine.scale import forward_flops
    assert forward_flops(config, 64) <= 30_000_000


def test_shipped_weights_reproduce_their_recorded_validation_loss(shipped, corpus_text):
    from engine.corpus import CORPUS_SHA256, sha256_hex
    from engine.data import split_tokens
    from engine.train import evaluate, unigram_loss

    record = shipped.training
    assert record["corpus_sha256"] == CORPUS_SHA256 == sha256_hex(corpus_text.encode())
    tokens = np.array(shipped.tokenizer.encode(corpus_text))
    train, val = split_tokens(tokens, record["val_fraction"])
    val_loss = evaluate(shipped.model, val, record["eval_windows"])
    assert val_loss == pytest.approx(record["final_val_loss"], abs=1e-4)
    baseline = unigram_loss(train, val, shipped.tokenizer.vocab_size)
    assert val_loss < baseline - 1.0  # well below knowing only letter frequencies


def test_a_copy_of_the_shipped_folder_loads_and_a_flipped_byte_does_not(tmp_path):
    copy = shutil.copytree(WEIGHTS_TINY, tmp_path / "w")
    load_weights(copy)
    data = bytearray((copy / "model.npz").read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / "model.npz").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="checksum mismatch"):
        load_weights(copy)
