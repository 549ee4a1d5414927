"""Our GGUF files in llama.cpp: how far its logits are from ours, per type, and its speed.

    python tests/bench/bench_llama_cpp.py [--windows 8]

For each type it writes the shipped weights as GGUF, runs llama.cpp (llama-cpp-python, in a
child process: past the 64-token context it aborts) on held-out 64-token windows of the
corpus and prints, against our model on the file's own weights (dequantized for F16, Q8_0,
Q4_0) and against the float32 model: max |logit diff|, argmax agreement, mean KL, the
margins of the argmax mismatches, and whether 40 greedy tokens after a 24-token prompt
are identical (and where not, how near a tie they part at). Needs llama_cpp (bash .ci/run
builds it) and the corpus.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from app.session.gguf_io import load_gguf, write_gguf  # noqa: E402
from engine.corpus import load_corpus  # noqa: E402
from engine.gguf_file import GGUF_TYPES  # noqa: E402
from engine.weights import SHIPPED_WEIGHTS, load_weights  # noqa: E402
from tests.engine.test_llama_cpp import (  # noqa: E402
    NEW_TOKENS,
    PROMPT,
    WINDOW,
    compare_logits,
    greedy_divergence,
    llama,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=8, help="held-out windows per type")
    args = parser.parse_args()
    shipped = load_weights(SHIPPED_WEIGHTS)
    tok = shipped.tokenizer
    text = load_corpus()
    val = text[int(len(text) * 0.9):]
    starts = np.linspace(0, len(val) - WINDOW - 1, args.windows).astype(int)
    windows = [val[s:s + WINDOW] for s in starts]
    print(f"{len(windows)} held-out windows of {WINDOW} tokens; llama-cpp-python in a child")
    print(f"{'type':5} {'vs':9} {'max|dz|':>8} {'argmax':>9} {'mean KL':>9}  "
          f"{'mismatch margins':18} greedy {NEW_TOKENS}")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        for fmt in GGUF_TYPES:
            path = write_gguf(folder / f"{fmt}.gguf", shipped.model, tok, fmt)
            own = load_gguf(path).model
            rows = {"own": [], "float32": []}
            diverged = []  # margins where llama.cpp's greedy text first differs from ours
            for i, window in enumerate(windows):
                request = {"model": str(path), "context": WINDOW, "window": tok.encode(window),
                           "texts": [], "prompt": window[:PROMPT], "prompt_tokens": PROMPT,
                           "new_tokens": NEW_TOKENS}
                (folder / f"{fmt}-{i}").mkdir()
                answer = llama(request, folder / f"{fmt}-{i}")
                theirs = np.array(answer["logits"])
                for name, model in (("own", own), ("float32", shipped.model)):
                    ours, _ = model.forward(np.array(request["window"]))
                    rows[name].append(compare_logits(ours.astype(np.float64), theirs))
                prompt = tok.encode(window[:PROMPT])
                at, margin = greedy_divergence(own, prompt, tok.encode(answer["completion"]))
                if at >= 0:
                    diverged.append(margin)
            for name, got in rows.items():
                margins = ", ".join(f"{m:.3f}" for m in sorted(m for g in got
                                                                for m in g["margins"]))
                greedy_note = (f"{len(windows) - len(diverged)}/{len(windows)} identical, "
                               f"others part at margins "
                               f"{', '.join(f'{m:.3f}' for m in sorted(diverged)) or '-'}"
                               if name == "own" else "")
                print(f"{fmt:5} {name:9} {max(g['max_abs'] for g in got):8.4f} "
                      f"{sum(g['agree'] for g in got):4}/{WINDOW * len(got):<4} "
                      f"{np.mean([g['mean_kl'] for g in got]):9.2e}  "
                      f"{margins or '-':18} {greedy_note}")


if __name__ == "__main__":
    main()
