"""Where the speed lives and when it stands in: a kernel of engine/kernels.py replaces a pair
of layers.py's functions only while their source is as shipped; an edit to a readable
function reaches the model exactly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.session.code_runner import load_engine, shipped_sources
from engine import kernels, layers
from engine.model import GPT, STAND_INS, GPTConfig

CONFIG = GPTConfig(vocab_size=13, block_size=16, n_layer=2, n_head=2, n_embd=16)
SIGMOID_GELU = '''
def gelu(x):
    """GELU's other approximation, x·sigmoid(1.702 x)."""
    return x / (1.0 + np.exp(-1.702 * x)), x
'''


def test_the_shipped_layers_run_the_kernels_on_both_platforms():
    for platform in ("linux", "emscripten"):
        chosen = kernels.stand_ins(layers, platform)
        unmatched = {pair: kernels.fingerprint(layers, names)
                     for pair, names in kernels.STANDS_IN_FOR.items()
                     if pair not in chosen.kernels}
        assert unmatched == {}, (
            "layers.py changed: check the kernels against it (tests/test_torch_oracle.py), "
            f"then record these fingerprints in kernels.SHIPPED: {unmatched}")
    assert STAND_INS.gelu is kernels.NATIVE["gelu"]  # this machine is not a browser


def test_an_edited_readable_function_is_what_the_model_runs():
    engine = load_engine({"layers.py": shipped_sources()["layers.py"] + SIGMOID_GELU})
    edited_layers = engine.model.STAND_INS
    assert "gelu" not in edited_layers.kernels
    assert set(edited_layers.kernels) == set(kernels.STANDS_IN_FOR) - {"gelu"}
    assert edited_layers.gelu is engine.layers.gelu  # the reader's own function

    namespace = {"np": np}
    exec(SIGMOID_GELU, namespace)  # the same edit, run here as the expected result
    expected_layers = dataclasses.replace(STAND_INS, gelu=namespace["gelu"],
                                          gelu_backward=layers.gelu_backward)
    params = GPT(CONFIG, seed=3).params
    idx = np.random.default_rng(0).integers(0, CONFIG.vocab_size, (2, 9))
    edited = engine.model.GPT(engine.model.GPTConfig(**vars(CONFIG)), params=params)
    expected = GPT(CONFIG, params=params, layers=expected_layers)
    logits, trace = edited.forward(idx)
    np.testing.assert_array_equal(logits, expected.forward(idx)[0])
    x = trace.blocks[0].mlp_pre
    np.testing.assert_array_equal(trace.blocks[0].mlp_post, x / (1.0 + np.exp(-1.702 * x)))


def test_an_edit_elsewhere_in_the_file_keeps_every_kernel():
    engine = load_engine({"layers.py": shipped_sources()["layers.py"]
                          + "\n\ndef my_helper(x):\n    return 2 * x\n"})
    assert engine.model.STAND_INS.kernels == STAND_INS.kernels


def test_softmax_is_shared_so_editing_it_reaches_attention_loss_and_probabilities():
    engine = load_engine({"layers.py": shipped_sources()["layers.py"].replace(
        "    return np.exp(log_softmax(x))", "    return np.exp(log_softmax(x)) * 0 + 0.25")})
    chosen = engine.model.STAND_INS
    assert "attention" not in chosen.kernels and "gelu" in chosen.kernels
    model = engine.model.GPT(engine.model.GPTConfig(**vars(CONFIG)))
    _, trace = model.forward([1, 2, 3, 4])
    assert (trace.blocks[0].att == 0.25).all() and (trace.probs == 0.25).all()


def test_an_edited_kernel_is_what_the_model_runs():
    engine = load_engine({"kernels.py": shipped_sources()["kernels.py"].replace(
        "    y *= 0.5\n    return y, (x, t)", "    y *= 0.0\n    return y, (x, t)")})
    model = engine.model.GPT(engine.model.GPTConfig(**vars(CONFIG)))
    assert "gelu" in model.layers.kernels
    assert (model.forward([1, 2, 3])[1].blocks[0].mlp_post == 0).all()


@pytest.mark.parametrize("platform", ["linux", "emscripten"])
def test_the_kernels_follow_the_shipped_model_closely(platform, shipped):
    """On real weights and float32, the kernels and the readable functions agree."""
    idx = np.array(shipped.tokenizer.encode("ROMEO:\nBut soft, what light through yonder"))
    fast = GPT(shipped.model.config, params=shipped.model.params,
               layers=kernels.stand_ins(layers, platform))
    plain = GPT(shipped.model.config, params=shipped.model.params,
                layers=kernels.readable(layers))
    np.testing.assert_allclose(fast.forward(idx)[0], plain.forward(idx)[0], rtol=1e-4,
                               atol=1e-4)
