"""Napkin GPT's engine: a tiny GPT in NumPy that trains and explains itself.

    from engine import GPTConfig, GPT
    model = GPT(GPTConfig(vocab_size=77, block_size=64, n_layer=3, n_head=4, n_embd=64))
    logits, trace = model.forward(idx)                 # idx: (B, T) or (T,) token ids
    loss, grads = model.loss_and_grads(idx, targets)   # grads keyed like model.params
    logits, trace = model.forward(idx, targets)        # the same in two steps, keeping the
    grads = model.backward(trace)                      # trace: trace.loss is the loss

The model reads like the paper in model.py and layers.py; kernels.py holds the faster
versions of layers.py's functions that stand in for them while they are as shipped.
"""

from engine.bpe_tokenizer import BPETokenizer
from engine.char_tokenizer import CharTokenizer
from engine.model import GPT, GPTConfig, KVCache
from engine.sampling import SamplingSettings, generate
from engine.tokenizer import Tokenizer, tokenizer_from_dict
from engine.trace import BlockTrace, Trace
from engine.weights import Checkpoint, WeightsError, load_weights, save_weights

__all__ = [
    "GPT",
    "BPETokenizer",
    "BlockTrace",
    "CharTokenizer",
    "Checkpoint",
    "GPTConfig",
    "KVCache",
    "SamplingSettings",
    "Tokenizer",
    "Trace",
    "WeightsError",
    "generate",
    "load_weights",
    "save_weights",
    "tokenizer_from_dict",
]
