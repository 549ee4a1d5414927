"""The largest model the lab opens from a file, and why: checked on the shape a file
declares, before anything of that size is allocated.

In the browser the lab's Python runs in WebAssembly, whose memory is 32-bit: 4 GiB for
everything the page's Python holds (the runtime, NumPy, Panel, Bokeh's documents) and no
NumPy array over 2 GiB. The lab gives a model a quarter of it, LAB_BUDGET, which must hold

    the weights WEIGHT_COPIES times   the model, its gradients and AdamW's two moments, the
                                      shipped or opened copy, the quantized copy, the model
                                      compared with it, its weights when training started
    one forward of LARGEST_BATCH      what a forward keeps for the pictures and the backward
    windows                           (trace.py), for the lab's largest batch: 64 windows,
                                      as the validation loss and a training step at most use

For the shipped model (159,104 parameters; 3 blocks of 4 heads, width 64, context 64) that
is 6.07 MiB of weights (ten times over) and 122 MiB of activations: 12% of the budget. A
context of 2³¹ tokens, a million blocks or a vocabulary of a billion characters are refused
here, in microseconds, with the figures; the same check guards every file the lab opens
(GGUF and weights).
"""

from __future__ import annotations

from engine.model import GPTConfig

WASM_MEMORY = 2**32  # bytes WebAssembly's 32-bit memory addresses: all of a page's Python
LAB_BUDGET = WASM_MEMORY // 4  # the model's share; the rest runs the page
WEIGHT_COPIES = 10
LARGEST_BATCH = 64  # windows in the lab's largest forward
FLOAT_BYTES = 4  # the lab computes in float32
# A model file is read whole, and in the browser it first travels from the page to the
# worker as base64 text (4/3 of its size): 64 MiB holds an F32 file of 16 million weights.
MAX_FILE_BYTES = 64 * 2**20
# What one forward of B windows of T tokens keeps beyond the weights, in numbers, as measured
# on the engine's three layer paths (tests/engine/test_open_files.py checks it is an upper
# bound there, within 1.5x): per block about 28·B·T·C (the streams, q, k, v, the MLP and
# their caches) and 2·B·nh·T² (the scores and the weights), then 10·B·T·C and 3·B·T·V
# outside the blocks (the embeddings, the last LayerNorm, the logits and probabilities)
PER_BLOCK_STREAMS, PER_BLOCK_ATTENTION, OUTSIDE_STREAMS, OUTSIDE_LOGITS = 28, 2, 10, 3


class ModelTooLarge(ValueError):
    """A declared shape the lab cannot hold; the message gives the figures."""


def n_params(config: GPTConfig) -> int:
    """Parameters of `config`, worked out without listing them (a million blocks is fine):
    wte V·C, wpe T·C, per block 12·C² + 13·C, the final LayerNorm 2·C."""
    V, T, L, C = config.vocab_size, config.block_size, config.n_layer, config.n_embd
    return V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C


def forward_numbers(config: GPTConfig, batch: int) -> int:
    """Numbers a forward of `batch` windows of block_size tokens keeps (an upper bound)."""
    V, T, L, nh, C = (config.vocab_size, config.block_size, config.n_layer, config.n_head,
                      config.n_embd)
    B = batch
    return (L * (PER_BLOCK_STREAMS * B * T * C + PER_BLOCK_ATTENTION * B * nh * T * T)
            + OUTSIDE_STREAMS * B * T * C + OUTSIDE_LOGITS * B * T * V)


def lab_bytes(config: GPTConfig) -> int:
    """Bytes the lab needs for a model of `config`: its weights WEIGHT_COPIES times and one
    forward of LARGEST_BATCH windows, in float32."""
    return FLOAT_BYTES * (WEIGHT_COPIES * n_params(config)
                          + forward_numbers(config, LARGEST_BATCH))


def check_fits(config: GPTConfig) -> None:
    """Raise ModelTooLarge, with the figures, if the lab cannot hold a model of `config`."""
    need = lab_bytes(config)
    if need <= LAB_BUDGET:
        return
    c = config
    raise ModelTooLarge(
        f"a model of {c.n_layer:,} blocks of {c.n_head:,} heads, width {c.n_embd:,}, context "
        f"{c.block_size:,} and {c.vocab_size:,} tokens ({n_params(c):,} parameters) needs "
        f"about {describe_bytes(need)} in the lab (its weights {WEIGHT_COPIES} times and the "
        f"activations of {LARGEST_BATCH} windows); the page holds models up to "
        f"{describe_bytes(LAB_BUDGET)}: WebAssembly's memory is 32-bit, "
        f"{describe_bytes(WASM_MEMORY)} for everything the page's Python holds")


def describe_bytes(n: int) -> str:
    """1536 -> "1.5 KiB", 2**32 -> "4 GiB": the largest unit that keeps a number >= 1."""
    units = ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
    value, unit = float(n), 0
    while value >= 1024 and unit < len(units) - 1:
        value, unit = value / 1024, unit + 1
    return f"{n:,} bytes" if unit == 0 else f"{value:,.3g} {units[unit]}"
