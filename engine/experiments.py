"""Small experiments on a live model: what a reader predicts is checked against these.

Each is a pure function of a model (or its arrays) and returns what it measured; none keeps
state. They are cheap enough to run in the browser on a click:

    strongest_key(att, query)        the key one query of one head attends to most
    head_ablation(model, idx)        switch each head off alone: how far the next-token
                                     distribution moves (KL, in nats) and what it then picks
    top_probability(logits, ...)     the likeliest token's probability after sampling's
                                     temperature, top-k and top-p
    uniform_loss(V)                  the loss of a model that gives every token 1/V: ln V
    first_depth_of_final(reading)    the first depth at which the logit lens already ranks
                                     the model's final guess first
    examples_in_window(tokens, ...)  how many (context -> next token) lessons one window holds
    causal_mask_experiment(...)      two tiny models trained side by side, one with the
                                     causal mask and one without: the loss each reaches in
                                     training, and in generation, where no later token exists

For the last, a model of one block and one head over windows of 4 tokens learns, within a
hundred steps, to copy the answer from the next position when nothing stops it: its training
loss falls far below the masked model's, and its loss in generation rises above it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from engine.compare import kl_divergence
from engine.data import BatchSampler, evaluation_starts, make_batch
from engine.kernels import Layers
from engine.layers import AttentionCache, cross_entropy, log_softmax, softmax
from engine.lens import LensReading
from engine.model import GPT, GPTConfig
from engine.optim import AdamW, clip_grad_norm
from engine.sampling import SamplingSettings, next_token_probs

# ---- attention, sampling, the loss of guessing ------------------------------------------------


def strongest_key(att: np.ndarray, query: int) -> int:
    """att (T, T) one head's attention weights -> the key that `query` weighs most (the
    earliest of equals)."""
    row = np.asarray(att)[query, :query + 1]  # the causal mask leaves zeros after the query
    return int(np.argmax(row))


def top_probability(logits: np.ndarray, settings: SamplingSettings) -> tuple[int, float]:
    """(V,) logits -> the likeliest token and its probability under `settings`."""
    probs = next_token_probs(logits, settings)
    top = int(np.argmax(probs))
    return top, float(probs[top])


def uniform_loss(vocab_size: int) -> float:
    """The mean cross-entropy of logits that are all equal (every token 1/V), measured with
    the loss the model trains on: ln V."""
    logits = np.zeros((vocab_size, vocab_size))  # one prediction per possible target
    return cross_entropy(logits, np.arange(vocab_size))[0]


def first_depth_of_final(reading: LensReading) -> int:
    """The first depth (0 is the bare embedding) at which the lens ranks the model's final
    guess first; the last depth always does."""
    return int(np.flatnonzero(reading.final_ranks == 1)[0])


def examples_in_window(tokens: np.ndarray, start: int, block_size: int) -> int:
    """How many (context -> next token) examples the window at `start` holds: one per
    position that has a next token inside the text."""
    return max(0, min(block_size, len(tokens) - start - 1))


# ---- switching heads off one at a time ------------------------------------------------------


@dataclass(frozen=True)
class Ablation:
    """What switching each head off alone does to the next-token distribution."""

    base_top: int  # the likeliest next token with every head on
    base_probs: np.ndarray  # (V,) next-token probabilities with every head on
    kl: np.ndarray  # (n_layer, n_head) KL(all heads ‖ that head off), in nats
    top: np.ndarray  # (n_layer, n_head) the likeliest next token with that head off
    top_prob: np.ndarray  # (n_layer, n_head) the probability that head-off model gives base_top

    @property
    def strongest(self) -> tuple[int, int]:
        """(block, head) whose removal moves the distribution most."""
        block, head = np.unravel_index(int(np.argmax(self.kl)), self.kl.shape)
        return int(block), int(head)


def head_ablation(model: GPT, idx) -> Ablation:
    """Run the model on `idx` (T,) once with every head on, then once per head with only that
    head switched off; compare the distributions for the token after the last."""
    cfg = model.config
    base = softmax(model.forward(np.asarray(idx))[0][-1].astype(np.float64))  # (V,)
    base_top = int(np.argmax(base))
    kl = np.zeros((cfg.n_layer, cfg.n_head))
    top = np.zeros((cfg.n_layer, cfg.n_head), dtype=np.int64)
    top_prob = np.zeros((cfg.n_layer, cfg.n_head))
    for layer in range(cfg.n_layer):
        for head in range(cfg.n_head):
            mask = np.ones((cfg.n_layer, cfg.n_head))
            mask[layer, head] = 0.0
            logits, _ = model.forward(np.asarray(idx), head_mask=mask)
            probs = softmax(logits[-1].astype(np.float64))
            kl[layer, head] = kl_divergence(base, probs)
            top[layer, head] = int(np.argmax(probs))
            top_prob[layer, head] = probs[base_top]
    return Ablation(base_top, base, kl, top, top_prob)


# ---- the causal mask, removed ----------------------------------------------------------------


def attention_without_mask(q: np.ndarray, k: np.ndarray, v: np.ndarray):
    """layers.attention with its causal mask removed: every query sees every key, the later
    ones too. Its backward is layers.attention_backward's, unchanged (the softmax's gradient
    does not care which entries a mask had zeroed)."""
    scores = q @ k.swapaxes(-1, -2) / math.sqrt(q.shape[-1])  # (B, nh, T, T)
    att = softmax(scores)
    return att @ v, AttentionCache(q, k, v, scores, att)


@dataclass(frozen=True)
class MaskExperiment:
    """Two models of one shape from the same random start, trained on the same batches."""

    config: GPTConfig
    steps: int
    batch_size: int
    masked_train: float  # mean training loss over the last tenth of the steps, with the mask
    unmasked_train: float  # the same without the mask
    masked_generation: float  # loss predicting from earlier tokens only (held-out windows)
    unmasked_generation: float


# small enough to train twice in well under a second natively (a few seconds in the browser),
# and, at every seed tried, to learn the copying trick when the mask is gone
EXPERIMENT_SHAPE = dict(block_size=4, n_layer=1, n_head=1, n_embd=16)
EXPERIMENT_STEPS = 100
EXPERIMENT_BATCH = 16
EXPERIMENT_LR = 2e-2
HELD_OUT_WINDOWS = 64
MIN_TOKENS = 4 * (EXPERIMENT_SHAPE["block_size"] + 1)  # the text the experiment needs


def causal_mask_experiment(layers: Layers, tokens: np.ndarray, vocab_size: int,
                           seed: int = 0, steps: int = EXPERIMENT_STEPS) -> MaskExperiment:
    """Train a tiny model twice on `tokens` (the same start, the same batches), running
    `layers` (layers.py's functions) once as they are and once with attention_without_mask in
    place of their attention, and measure each on held-out windows.

    Training loss: the mean over every position of each window, as in training. Generation
    loss: the last position of each held-out window only, whose every visible token came
    before it, as when generating (no later token exists yet).
    """
    config = GPTConfig(vocab_size=vocab_size, **EXPERIMENT_SHAPE)
    T = config.block_size
    if len(tokens) < MIN_TOKENS:
        raise ValueError(f"the text has {len(tokens)} tokens; the experiment needs at least "
                         f"{MIN_TOKENS}")
    n = len(tokens)
    train, held = tokens[:n * 9 // 10], tokens[n * 9 // 10:]
    if len(held) < 2 * (T + 1):
        train, held = tokens, tokens
    held_batch = make_batch(held, evaluation_starts(held, T, HELD_OUT_WINDOWS), T)
    results = {}
    for name, run in (("masked", layers), ("unmasked",
                                           replace(layers, attention=attention_without_mask))):
        model = GPT(config, seed=seed, layers=run)
        optimizer = AdamW(model.params, EXPERIMENT_LR, weight_decay=0.0)
        batches = BatchSampler(train, T, EXPERIMENT_BATCH, seed)
        losses = []
        for _ in range(steps):
            batch = next(batches)
            _, trace = model.forward(batch.x, batch.y)  # (B, T) windows, their next tokens
            grads = model.backward(trace)
            clip_grad_norm(grads, 1.0)
            optimizer.step(grads, EXPERIMENT_LR)
            losses.append(trace.loss)
        logits, _ = model.forward(held_batch.x)  # (B, T, V)
        last = log_softmax(logits[:, -1].astype(np.float64))  # (B, V)
        generation = -last[np.arange(len(last)), held_batch.y[:, -1]].mean()
        results[name] = (float(np.mean(losses[-max(1, steps // 10):])), float(generation))
    (masked_train, masked_generation), (unmasked_train, unmasked_generation) = (
        results["masked"], results["unmasked"])
    return MaskExperiment(config, steps, EXPERIMENT_BATCH, masked_train, unmasked_train,
                          masked_generation, unmasked_generation)
