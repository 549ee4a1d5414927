"""Where the speed lives and when it stands in: a kernel of engine/kernels.py replaces a pair
of layers.py's functions only while their code is as shipped (their comments, docstrings and
spacing may change); an edit to what a readable function computes reaches the model exactly."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from app.session.code_runner import load_engine, shipped_sources
from engine import fingerprint, kernels, layers
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
            "the code of layers.py changed: check the kernels against it "
            "(tests/engine/test_torch_oracle.py), then record these fingerprints in "
            f"kernels.SHIPPED: {unmatched}")
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


# ---- what counts as an edit: the code, not its comments, docstrings or spacing ---------------

GELU_LINE = ("    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * "
             "(x + 0.044715 * x**3))), x")
LAYOUT_EDITS = {  # name -> (old, new): each leaves what every function computes as it was
    "a comment": (GELU_LINE, "    # the tanh form, as GPT-2 has it\n" + GELU_LINE + "  # GELU"),
    "a new docstring": ('    """0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))"""',
                        '    """Gaussian error linear unit.\n\n    Smooth ReLU.\n    """'),
    "no docstring": ('    """exp(x) / sum(exp(x)) over the last axis; -inf entries get '
                     'probability 0."""\n', ""),
    "blank lines, indented anyhow": ("    x_hat = (x - mean) * rstd",
                                     "\n        \n  \n    x_hat = (x - mean) * rstd"),
    "a line wrapped otherwise": (
        "    dx = rstd * (dx_hat - dx_hat.mean(axis=-1, keepdims=True)\n"
        "                 - x_hat * (dx_hat * x_hat).mean(axis=-1, keepdims=True))",
        "    dx = rstd * (dx_hat - dx_hat.mean(axis=-1, keepdims=True) - x_hat\n"
        "        * (dx_hat * x_hat).mean(axis=-1, keepdims=True))"),
    "spaces around operators": ("return 0.5 * x * (1.0 + np.tanh(", "return 0.5*x*(1.0+np.tanh("),
}
CODE_EDITS = {  # name -> (old, new, the kernel pairs that must stop standing in)
    "a constant in gelu": ("(x + 0.044715 * x**3))), x", "(x + 0.0447 * x**3))), x", {"gelu"}),
    "an operator in linear": ("return x @ w + b, (x, w)", "return x @ w - b, (x, w)",
                              {"linear"}),
    "a default of layernorm": ("eps: float = 1e-5):", "eps: float = 1e-6):", {"layernorm"}),
    "log_softmax, shared": ("shifted = x - x.max(axis=-1, keepdims=True)",
                            "shifted = x - x.min(axis=-1, keepdims=True)",
                            {"attention", "cross_entropy"}),
}


def edited_layers(old: str, new: str):
    source = shipped_sources()["layers.py"]
    assert old in source, f"{old!r} is not in layers.py"
    return load_engine({"layers.py": source.replace(old, new, 1)}).model.STAND_INS


@pytest.mark.parametrize("edit", list(LAYOUT_EDITS))
def test_comments_docstrings_and_spacing_keep_every_kernel(edit):
    assert edited_layers(*LAYOUT_EDITS[edit]).kernels == tuple(kernels.STANDS_IN_FOR)


@pytest.mark.parametrize("edit", list(CODE_EDITS))
def test_a_change_to_the_code_drops_exactly_the_kernels_that_use_it(edit):
    old, new, dropped = CODE_EDITS[edit]
    assert set(edited_layers(old, new).kernels) == set(kernels.STANDS_IN_FOR) - dropped


def test_indentation_is_structure_and_docstrings_only_come_first():
    """A line moved out of an `if` is a change; a string after the first statement is code."""
    inside = "def f(a):\n    if a:\n        x = 1\n        y = 2\n"
    outside = "def f(a):\n    if a:\n        x = 1\n    y = 2\n"
    assert fingerprint.code_tokens(inside) != fingerprint.code_tokens(outside)
    assert fingerprint.code_tokens(inside) == fingerprint.code_tokens(
        'def f(a):  # f\n  """Doc."""\n  if a:\n\n     x = 1\n     y = 2\n')
    assert '"late"' in fingerprint.code_tokens('def f(a):\n    a = 1\n    "late"\n')
    assert fingerprint.code_tokens('def f(a):\n    "".join(a)\n')[8] == '""'


def test_an_f_string_is_one_token_on_every_python():
    """Python 3.12 (Pyodide's is 3.13) splits f-strings into pieces; the fingerprint must
    not depend on it, or the browser would lose kernels that run natively."""
    assert fingerprint.code_tokens('x = f"a{b:>{w}}" + f"""{f"{c}"}"""\n') == [
        "x", "=", 'f"a{b:>{w}}"', "+", 'f"""{f"{c}"}"""', "<NEWLINE>"]


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


def test_the_browsers_linear_layers_take_every_product_from_a_given_matmul():
    """Three products per linear layer (forward, dx, dw), each handed over as is: the
    transposed operands are views, not copies (the WebAssembly kernel takes their strides)."""
    calls = []

    def matmul(a, b):
        calls.append((a.shape, b.shape, a.base is not None and not a.flags.c_contiguous))
        return a @ b

    model = GPT(CONFIG, seed=1, layers=kernels.stand_ins(layers, "emscripten", matmul=matmul))
    rng = np.random.default_rng(0)
    idx, targets = rng.integers(0, CONFIG.vocab_size, (2, 9)), rng.integers(0, 13, (2, 9))
    model.loss_and_grads(idx, targets)
    C, V, N = CONFIG.n_embd, CONFIG.vocab_size, 2 * 9
    assert len(calls) == 3 * (4 * CONFIG.n_layer + 1)  # four linear layers a block, LM head
    assert ((N, C), (C, V), False) in calls  # the LM head, forward: wteᵀ as a view
    assert ((C, N), (N, V), True) in calls  # its dW: the activations transposed, a view
    assert kernels.stand_ins(layers, "linux", matmul=matmul).linear is kernels.NATIVE["linear"]
