"""Model files the lab opens, checked before anything large is allocated: our GGUF header
reader against the `gguf` package's, the lab's ceiling against what a forward really keeps,
weights zips both ways, and every hostile file refused by the file formats with a message
naming the problem (the lab's side: tests/app/test_open_model.py)."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from engine import GPT, GPTConfig
from engine.ceiling import (
    LAB_BUDGET,
    MAX_FILE_BYTES,
    ModelTooLarge,
    check_fits,
    describe_bytes,
    forward_numbers,
    lab_bytes,
    n_params,
)
from engine.gguf_file import GGUFError
from engine.gguf_header import GGML_TYPES, check_gguf, read_header
from engine.weights import WeightsError, read_weights_zip, weights_zip
from tests.support.model_files import hostile_files, shipped_files, zipped
from tests.support.models import LAYER_PATHS

gguf = pytest.importorskip("gguf", reason="the gguf package is not installed "
                                          "(pip install -e '.[app]' installs gguf==0.19.0)")
LOOSE_SECONDS = 5.0  # "within a second" is measured in the benchmark; this only catches a hang


@pytest.fixture(scope="module")
def files():
    return shipped_files()


@pytest.fixture(scope="module")
def hostile():
    return hostile_files()


# ---- our header reader against the gguf package's --------------------------------------------

@pytest.mark.parametrize("fmt", ["f32", "f16", "q8_0", "q4_0"])
def test_the_header_is_what_the_gguf_package_reads(files, fmt, tmp_path):
    path = tmp_path / "m.gguf"
    path.write_bytes(files[fmt])
    reader = gguf.GGUFReader(path)
    header = read_header(files[fmt])
    theirs = {name: f.contents() for name, f in reader.fields.items()
              if not name.startswith("GGUF.")}
    assert header.fields.keys() == theirs.keys()
    for key, value in theirs.items():
        if isinstance(value, float):
            assert header.fields[key] == pytest.approx(value), key
        else:
            assert header.fields[key] == value, key
    assert header.version == reader.fields["GGUF.version"].contents() == 3
    assert [t.name for t in header.tensors] == [t.name for t in reader.tensors]
    for ours, t in zip(header.tensors, reader.tensors, strict=True):
        assert ours.shape == tuple(int(n) for n in reversed(t.shape)), t.name
        assert ours.ggml_type == t.tensor_type.name.lower(), t.name
        assert ours.offset == t.data_offset, t.name
        assert ours.nbytes == t.n_bytes, t.name
    config, tokenizer, tensors = check_gguf(header, len(files[fmt]))
    assert config == GPTConfig(77, 64, 3, 4, 64) and tokenizer.vocab_size == 77
    assert set(tensors) == {t.name for t in reader.tensors}


def test_the_types_we_read_are_ggmls(files):
    for number, (name, per_block, block_bytes) in GGML_TYPES.items():
        kind = gguf.GGMLQuantizationType(number)
        assert kind.name.lower() == name
        assert gguf.GGML_QUANT_SIZES[kind] == (per_block, block_bytes)


# ---- the ceiling --------------------------------------------------------------------------

def _trace_bytes(trace, params: dict) -> int:
    """Bytes of the distinct arrays a trace holds (views counted once, at their base), but
    the model's own weights, which the layers' caches refer to (counted as weights)."""
    bases, seen, weights = {}, set(), {id(p) for p in params.values()}

    def walk(obj):
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, np.ndarray):
            base = obj
            while isinstance(base.base, np.ndarray):
                base = base.base
            if id(base) not in weights:
                bases[id(base)] = base.nbytes
        elif isinstance(obj, dict):
            for v in obj.values():
                walk(v)
        elif isinstance(obj, list | tuple):
            for v in obj:
                walk(v)
        elif hasattr(obj, "__dict__"):
            for v in vars(obj).values():
                walk(v)

    walk(trace)
    return sum(bases.values())


@pytest.mark.parametrize("path", list(LAYER_PATHS))
@pytest.mark.parametrize("config", [GPTConfig(77, 64, 3, 4, 64), GPTConfig(200, 128, 2, 8, 64),
                                    GPTConfig(50, 32, 4, 2, 128), GPTConfig(1000, 16, 1, 1, 32),
                                    GPTConfig(30, 256, 1, 16, 32)])
def test_forward_numbers_bound_what_a_forward_keeps(config, path):
    model = GPT(config, seed=0, dtype=np.float32, layers=LAYER_PATHS[path])
    batch = 2
    idx = np.random.default_rng(0).integers(0, config.vocab_size, (batch, config.block_size))
    _, trace = model.forward(idx, idx)
    assert trace.probs.shape[-1] == config.vocab_size  # the views ask for them: counted too
    kept = _trace_bytes(trace, model.params)
    bound = 4 * forward_numbers(config, batch)
    assert kept <= bound <= 1.5 * kept


def test_n_params_without_listing_them():
    for config in (GPTConfig(77, 64, 3, 4, 64), GPTConfig(5, 7, 2, 3, 9)):
        assert n_params(config) == config.n_params


def test_the_shipped_shape_fits_and_the_absurd_ones_do_not():
    shipped = GPTConfig(77, 64, 3, 4, 64)
    check_fits(shipped)
    assert lab_bytes(shipped) < 0.2 * LAB_BUDGET
    assert describe_bytes(LAB_BUDGET) == "1 GiB"
    for config, words in [(GPTConfig(77, 2**31, 3, 4, 64), "context 2,147,483,648"),
                          (GPTConfig(77, 64, 10**6, 4, 64), "1,000,000 blocks"),
                          (GPTConfig(10**9, 64, 3, 4, 64), "1,000,000,000 tokens")]:
        started = time.perf_counter()
        with pytest.raises(ModelTooLarge, match=words) as refused:
            check_fits(config)
        assert time.perf_counter() - started < LOOSE_SECONDS
        assert "WebAssembly's memory is 32-bit" in str(refused.value)


# ---- weights zips -------------------------------------------------------------------------

def test_a_weights_zip_comes_back_as_it_went(shipped):
    data = weights_zip(shipped.model, shipped.tokenizer, {"steps_here": 3})
    back = read_weights_zip(data)
    assert back.model.config == shipped.model.config and back.training == {"steps_here": 3}
    assert back.tokenizer.to_dict() == shipped.tokenizer.to_dict()
    for name, w in shipped.model.params.items():
        np.testing.assert_array_equal(back.model.params[name], w, err_msg=name)


def test_a_zip_of_the_files_without_a_folder_opens_too(shipped):
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(weights_zip(shipped.model, shipped.tokenizer))) as z:
        files = {info.filename.split("/")[-1]: z.read(info) for info in z.infolist()}
    assert read_weights_zip(zipped(files)).model.config == shipped.model.config


# ---- hostile files: refused by the file formats, naming the problem ---------------------------

def refuse(data: bytes, name: str) -> Exception:
    """The file formats' refusal of `data`: as a GGUF (engine/gguf_header.py checks it,
    then the values are read) or as a weights zip."""
    from app.session.gguf_io import read_gguf

    started = time.perf_counter()
    with pytest.raises((GGUFError, WeightsError)) as refused:
        (read_weights_zip if data.startswith(b"PK") else read_gguf)(data, name)
    assert time.perf_counter() - started < LOOSE_SECONDS, name
    return refused.value


def test_each_hostile_file_is_refused_naming_the_problem(hostile):
    for case in hostile:
        if case.name == "notes.txt":
            continue  # neither format: the lab's dispatcher refuses it (test_open_model.py)
        error = refuse(case.data, case.name)
        assert re.search(case.message, str(error)), (case.name, str(error))


def test_a_file_over_the_limit_is_not_read(tmp_path):
    from app.session.gguf_io import load_gguf

    path = tmp_path / "huge.gguf"
    with path.open("wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no 64 MiB written
    with pytest.raises(GGUFError, match=r"67,108,865 bytes; the lab opens model files up to "
                                        r"64 MiB"):
        load_gguf(path)
