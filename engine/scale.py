"""Size and cost of a GPT, computed from its config: ours beside GPT-2 and GPT-3.

FLOPs count a multiply-add as 2. A forward pass costs, per token,
    2·(weights in the matrices it multiplies by)     the linear layers and the LM head
  + 4·n_layer·context·n_embd                        q·kᵀ and att·v over `context` keys
(Kaplan et al. 2020, "Scaling Laws", table 1); training costs about three times that
(the backward pass is two matrix products per forward one).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.model import GPTConfig

GPT2_SMALL = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
GPT3_175B = GPTConfig(vocab_size=50257, block_size=2048, n_layer=96, n_head=96, n_embd=12288)


def matmul_weights(config: GPTConfig) -> int:
    """Weights that multiply activations per token: the blocks' matrices and the LM head
    (embedding lookups and LayerNorms cost almost nothing)."""
    C = config.n_embd
    per_block = C * 3 * C + C * C + C * 4 * C + 4 * C * C
    return config.n_layer * per_block + config.vocab_size * C


def forward_flops_per_token(config: GPTConfig, context: int | None = None) -> int:
    """FLOPs to run one token through the model when it attends to `context` keys
    (default: a full block)."""
    context = config.block_size if context is None else context
    return 2 * matmul_weights(config) + 4 * config.n_layer * context * config.n_embd


def forward_flops(config: GPTConfig, T: int) -> int:
    """FLOPs of one forward pass over T tokens with causal attention computed in full
    (every query against all T keys, masked afterwards, as our NumPy code does)."""
    return T * forward_flops_per_token(config, T)


@dataclass(frozen=True)
class ModelScale:
    name: str
    config: GPTConfig
    params: int
    flops_per_token: int  # forward, at full context
    train_flops_per_token: int  # forward + backward ≈ 3 × forward


def scale_of(name: str, config: GPTConfig) -> ModelScale:
    f = forward_flops_per_token(config)
    return ModelScale(name, config, config.n_params, f, 3 * f)


# ---- generating one token: a KV cache against a recurrent state -------------------------------
#
# A transformer generating token t keeps the keys and values of every earlier token (its KV
# cache) and attends over all of them: memory and FLOPs grow with the context. A recurrent
# model (RWKV, RetNet, linear attention) folds the past into a state of fixed size instead.
# Here that state is the one RetNet and linear attention keep: per block and head, one
# hs x hs matrix S (the running sum of the decayed products k vᵀ), updated and read once
# per token (S <- γ·S + k vᵀ, then out = qᵀS): two multiply-adds per number of the state.
# Both sides pay the same weight matrices per token; only the part that looks back differs.

def kv_cache_numbers(config: GPTConfig, context: int) -> int:
    """Numbers the KV cache holds after `context` tokens: a key and a value of n_embd
    numbers per token and block."""
    return 2 * config.n_layer * context * config.n_embd


def recurrent_state_numbers(config: GPTConfig) -> int:
    """Numbers a recurrent state of the same width holds, whatever the context: one
    hs x hs matrix per block and head."""
    return config.n_layer * config.n_head * config.head_size ** 2


def kv_flops_per_token(config: GPTConfig, context: int) -> int:
    """FLOPs to generate one token that attends to `context` cached keys and values."""
    return forward_flops_per_token(config, context)


def recurrent_flops_per_token(config: GPTConfig) -> int:
    """FLOPs to generate one token with a recurrent state: the same weight matrices, then
    two multiply-adds per number of the state (update it, read it)."""
    return 2 * matmul_weights(config) + 4 * recurrent_state_numbers(config)


def break_even_contexts(config: GPTConfig) -> tuple[float, float]:
    """The contexts after which the recurrent state beats the KV cache: in memory, where
    2·n_layer·t·n_embd = n_layer·n_head·hs², so t = hs / 2; in FLOPs, where the attention's
    4·n_layer·t·n_embd = 4·n_layer·n_head·hs², so t = hs."""
    hs = config.head_size
    return hs / 2, float(hs)
