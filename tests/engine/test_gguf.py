"""GGUF export and read-back (engine/gguf_file.py), checked with the `gguf` package that
llama.cpp maintains: its quantizers, its reader. llama.cpp itself: tests/test_llama_cpp.py."""

from __future__ import annotations

import numpy as np
import pytest

from app.session.gguf_io import gguf_bytes, load_gguf, write_gguf
from engine.bpe_tokenizer import BPETokenizer
from engine.char_tokenizer import CharTokenizer
from engine.gguf_file import (
    GGUF_TYPES,
    GGUFError,
    byte_to_unicode,
    gguf_metadata,
    gguf_name,
    gguf_size,
    gguf_tensors,
    gguf_vocab,
    stored_type,
)
from engine.model import GPT, GPTConfig
from engine.quant import quantize, quantize_model
from tests.support.models import random_model

gguf = pytest.importorskip("gguf", reason="the gguf package is not installed "
                                          "(pip install -e '.[app]' installs gguf==0.19.0)")


def written(tmp_path, model, tok, fmt):
    return write_gguf(tmp_path / f"m-{fmt}.gguf", model, tok, fmt)


# ---- our blocks are the gguf package's, byte for byte -------------------------------------------

def awkward_rows(rng) -> np.ndarray:
    """(16, 128) float32: normal values, an all-zero block, exact halves (roundf ties), a
    block whose largest magnitude is negative and one where +max and -max tie."""
    x = rng.standard_normal((16, 128)).astype(np.float32)
    x[0, :32] = 0
    x[1, :32] = np.arange(-16, 16) * np.float32(0.5) / 127 * 16  # d = 16/127·0.5...: ties
    x[2, :32] *= 1e-3
    x[2, 5] = -7.0
    x[3, :32] = np.linspace(-1, 1, 32, dtype=np.float32)
    x[4] *= 1000
    return x


@pytest.mark.parametrize("fmt", ["q8_0", "q4_0"])
def test_our_quantizers_are_byte_equal_to_the_gguf_package(fmt, shipped):
    qtype = getattr(gguf.GGMLQuantizationType, fmt.upper())
    rng = np.random.default_rng(0)
    arrays = [awkward_rows(rng), *(w.T for n, w in shipped.model.params.items()
                                   if n.endswith(".w")), shipped.model.params["wte"]]
    for x in arrays:
        x = np.ascontiguousarray(x, dtype=np.float32)
        ours = quantize(x, fmt).to_bytes()
        theirs = gguf.quants.quantize(x, qtype)
        assert ours == theirs.tobytes()
        np.testing.assert_array_equal(quantize(x, fmt).dequantize(),
                                      gguf.quants.dequantize(theirs, qtype))


# ---- what the file holds -----------------------------------------------------------------------

def test_gpt2_metadata_tensors_and_types(tmp_path, shipped):
    model, tok = shipped.model, shipped.tokenizer
    c = model.config
    reader = gguf.GGUFReader(written(tmp_path, model, tok, "q8_0"))
    fields = {k: f.contents() for k, f in reader.fields.items()}
    assert fields["general.architecture"] == "gpt2"
    assert fields["gpt2.context_length"] == c.block_size == 64
    assert fields["gpt2.embedding_length"] == c.n_embd
    assert fields["gpt2.feed_forward_length"] == 4 * c.n_embd
    assert fields["gpt2.block_count"] == c.n_layer
    assert fields["gpt2.attention.head_count"] == c.n_head
    assert fields["gpt2.attention.layer_norm_epsilon"] == pytest.approx(1e-5)
    assert fields["general.file_type"] == gguf.LlamaFileType.MOSTLY_Q8_0
    unk = tok.stoi["\ufffd"]
    assert (fields["tokenizer.ggml.bos_token_id"], fields["tokenizer.ggml.eos_token_id"],
            fields["tokenizer.ggml.unknown_token_id"]) == (unk, unk, unk)
    assert fields["tokenizer.ggml.add_bos_token"] is False
    assert fields["tokenizer.ggml.add_eos_token"] is False
    assert fields["tokenizer.ggml.merges"]  # llama.cpp refuses a gpt2 vocabulary without

    tensors = {t.name: t for t in reader.tensors}
    assert "output.weight" not in tensors  # llama.cpp ties the head to token_embd
    assert set(tensors) == {gguf_name(n) for n in model.params}
    for name, w in model.params.items():
        t = tensors[gguf_name(name)]
        # GGUF lists the fastest-moving axis first: a (C, 3C) matrix of ours, stored
        # transposed as (3C, C), appears as [C, 3C]
        expected = list(w.shape) if name.endswith(".w") else list(reversed(w.shape))
        assert [int(n) for n in t.shape] == expected, name
        assert t.tensor_type.name == stored_type(name, "q8_0").upper(), name
    assert tensors["position_embd.weight"].tensor_type.name == "F32"
    assert tensors["token_embd.weight"].tensor_type.name == "Q8_0"
    assert tensors["blk.0.attn_norm.bias"].tensor_type.name == "F32"


def test_q4_0_keeps_the_tied_head_at_q8_0_as_llama_quantize_does(tmp_path, shipped):
    reader = gguf.GGUFReader(written(tmp_path, shipped.model, shipped.tokenizer, "q4_0"))
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["token_embd.weight"] == "Q8_0"
    assert {types[f"blk.{i}.{m}.weight"] for i in range(3)
            for m in ("attn_qkv", "attn_output", "ffn_up", "ffn_down")} == {"Q4_0"}
    assert types["position_embd.weight"] == "F32"
    assert reader.fields["general.file_type"].contents() == gguf.LlamaFileType.MOSTLY_Q4_0


def test_vocabulary_goes_through_gpt2s_byte_map(shipped):
    b2u = byte_to_unicode()
    assert len(set(b2u.values())) == 256
    assert (b2u[ord(" ")], b2u[ord("\n")], b2u[ord("A")]) == ("Ġ", "Ċ", "A")
    tokens, merges, special = gguf_vocab(shipped.tokenizer)
    chars = shipped.tokenizer.chars
    assert tokens[chars.index(" ")] == "Ġ" and tokens[chars.index("\n")] == "Ċ"
    assert tokens[special] == "ï¿½"  # "�" is EF BF BD
    assert merges == ["ï ¿", "ï¿ ½"]


# ---- read back ---------------------------------------------------------------------------------

def file_model(model: GPT, fmt: str) -> GPT:
    """What the file should hold: matrices and wte rounded to `fmt`, the rest as it is."""
    if fmt in ("q8_0", "q4_0"):
        quantized, _ = quantize_model(model, fmt, lambda n: stored_type(n, fmt) == fmt)
        quantized, _ = quantize_model(quantized, "q8_0", ["wte"])  # the tied head
        return quantized
    cast = np.float16 if fmt == "f16" else np.float32
    return GPT(model.config, params={
        n: w.astype(cast if stored_type(n, fmt) != "f32" else np.float32).astype(np.float32)
        for n, w in model.params.items()})


@pytest.mark.parametrize("fmt", GGUF_TYPES)
def test_round_trip(tmp_path, shipped, fmt):
    back = load_gguf(written(tmp_path, shipped.model, shipped.tokenizer, fmt))
    assert back.model.config == shipped.model.config
    assert back.tokenizer.chars == shipped.tokenizer.chars
    expected = file_model(shipped.model, fmt).params
    for name, w in back.model.params.items():
        assert w.dtype == np.float32
        np.testing.assert_array_equal(w, expected[name], err_msg=name)


def test_round_trip_of_a_non_ascii_vocabulary_and_other_shapes(tmp_path):
    tok = CharTokenizer.from_text("héllo wörld, naïve café — ✓ 日本\n")
    model = random_model(GPTConfig(tok.vocab_size, 16, 2, 2, 32), dtype=np.float32)
    _, merges, _ = gguf_vocab(tok)
    assert "Ã ©" in merges and "æ Ĺ" in merges  # é = C3 A9; 日 = E6 97 A5
    back = load_gguf(written(tmp_path, model, tok, "q4_0"))
    assert back.tokenizer.chars == tok.chars
    assert back.model.config == model.config
    ids = tok.encode("café ✓")
    np.testing.assert_array_equal(back.model.forward(np.array(ids))[0],
                                  file_model(model, "q4_0").forward(np.array(ids))[0])


def test_size_worked_out_beforehand_is_the_files(tmp_path, shipped):
    odd = CharTokenizer.from_text("héllo wörld ✓\n")
    cases = [(shipped.model, shipped.tokenizer, fmt, "") for fmt in GGUF_TYPES]
    cases += [(random_model(GPTConfig(odd.vocab_size, 16, 2, 2, 48), dtype=np.float32), odd,
               "f16", "a description with ✓")]
    for model, tok, fmt, description in cases:
        data = gguf_bytes(model, tok, fmt, description)
        size = gguf_size(gguf_metadata(model.config, tok, fmt, description),
                         gguf_tensors(model, fmt))
        assert size == len(data), fmt


def test_bytes_are_the_file(tmp_path, shipped):
    path = written(tmp_path, shipped.model, shipped.tokenizer, "q4_0")
    assert gguf_bytes(shipped.model, shipped.tokenizer, "q4_0") == path.read_bytes()


def test_a_float64_model_is_written_as_float32(tmp_path, shipped):
    model = GPT(shipped.model.config, params={n: w.astype(np.float64)
                                               for n, w in shipped.model.params.items()})
    back = load_gguf(written(tmp_path, model, shipped.tokenizer, "f32"))
    np.testing.assert_array_equal(back.model.params["wte"], shipped.model.params["wte"])


# ---- bad input: a message naming the problem, and no file left behind ---------------------------

def only(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_nan_weights_are_refused_and_an_existing_file_is_kept(tmp_path, shipped):
    path = written(tmp_path, shipped.model, shipped.tokenizer, "f32")
    before = path.read_bytes()
    params = {n: w.copy() for n, w in shipped.model.params.items()}
    params["h.1.mlp.c_fc.w"][3, 4] = np.nan
    with pytest.raises(GGUFError, match=r"h\.1\.mlp\.c_fc\.w holds 1 NaN"):
        write_gguf(path, GPT(shipped.model.config, params=params), shipped.tokenizer, "q8_0")
    assert path.read_bytes() == before
    assert only(tmp_path) == [path.name]


def test_unknown_type(tmp_path, shipped):
    with pytest.raises(GGUFError, match=r"unknown GGUF type 'q5_k'.*f32, f16, q8_0, q4_0"):
        write_gguf(tmp_path / "x.gguf", shipped.model, shipped.tokenizer, "q5_k")
    assert only(tmp_path) == []


def test_a_character_without_utf8_is_refused(tmp_path):
    tok = CharTokenizer(["a", "\ud800", "\ufffd"])
    model = random_model(GPTConfig(3, 8, 1, 1, 32), dtype=np.float32)
    with pytest.raises(GGUFError, match=r"vocabulary character 1 \('\\ud800'\)"):
        write_gguf(tmp_path / "x.gguf", model, tok, "f32")
    assert only(tmp_path) == []


def test_bpe_models_are_refused(tmp_path):
    tok = BPETokenizer.train("hello hello world " * 20, 260)
    model = random_model(GPTConfig(tok.vocab_size, 8, 1, 1, 32), dtype=np.float32)
    with pytest.raises(GGUFError, match="only character-level models"):
        write_gguf(tmp_path / "x.gguf", model, tok, "f32")


def test_rows_that_are_not_whole_blocks(tmp_path):
    tok = CharTokenizer.from_text("abc")
    model = random_model(GPTConfig(tok.vocab_size, 8, 1, 2, 48), dtype=np.float32)
    with pytest.raises(GGUFError, match=r"multiple of 32.*rows of 48"):
        write_gguf(tmp_path / "x.gguf", model, tok, "q8_0")
    assert load_gguf(written(tmp_path, model, tok, "f16")).model.config.n_embd == 48


def test_unwritable_paths(tmp_path, shipped):
    m, t = shipped.model, shipped.tokenizer
    with pytest.raises(GGUFError, match=r"cannot write .*No such file or directory"):
        write_gguf(tmp_path / "missing" / "x.gguf", m, t, "f32")
    with pytest.raises(GGUFError, match="it is a folder"):
        write_gguf(tmp_path, m, t, "f32")
    with pytest.raises(GGUFError, match="cannot write /proc/"):
        write_gguf("/proc/napkin.gguf", m, t, "f32")
    assert only(tmp_path) == []


def test_truncated_files(tmp_path, shipped):
    data = written(tmp_path, shipped.model, shipped.tokenizer, "q4_0").read_bytes()
    for cut in (10, 2000, len(data) // 2, len(data) - 7):
        path = tmp_path / f"cut-{cut}.gguf"
        path.write_bytes(data[:cut])
        with pytest.raises(GGUFError, match=r"truncated|not a readable GGUF"):
            load_gguf(path)


def test_foreign_files(tmp_path):
    for name, data in [("weights.npz", b"PK\x03\x04" + bytes(200)),
                       ("empty.gguf", b""), ("text.gguf", b"hello world\n" * 10)]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(GGUFError, match="not a readable GGUF"):
            load_gguf(path)
    with pytest.raises(GGUFError, match="cannot read"):
        load_gguf(tmp_path / "nothing-here.gguf")


def test_another_architecture(tmp_path):
    path = tmp_path / "llama.gguf"
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(1)
    w.add_tensor("token_embd.weight", np.zeros((4, 32), np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    with pytest.raises(GGUFError, match="architecture 'llama'; napkin-gpt reads the 'gpt2'"):
        load_gguf(path)


# ---- the command --------------------------------------------------------------------------------

def test_export_command(tmp_path, capsys, shipped):
    from app.cli.main import main

    out = tmp_path / "napkin-q4_0.gguf"
    assert main(["export", "--format", "gguf", "--type", "q4_0", "--out", str(out)]) == 0
    assert "llama-completion" in capsys.readouterr().out
    assert load_gguf(out).tokenizer.chars == shipped.tokenizer.chars

    with pytest.raises(SystemExit) as e:
        main(["export", "--type", "q5_k", "--out", str(tmp_path / "y.gguf")])
    assert e.value.code == 2
    assert "invalid choice: 'q5_k'" in capsys.readouterr().err

    assert main(["export", "--weights", str(tmp_path), "--out", str(tmp_path / "z.gguf")]) == 2
    assert "config.json" in capsys.readouterr().err
    assert only(tmp_path) == [out.name]
