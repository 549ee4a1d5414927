"""The code editor's engine swap: edited source loads apart from the installed engine,
failures change nothing, runaway code is stopped, and only trusted servers run code."""

from __future__ import annotations

import io
import json
import sys
import zipfile

import numpy as np
import pytest

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

from app.lab.page import Lab
from app.session.code_runner import (
    CodeError,
    CodePolicy,
    is_loopback,
    load_engine,
    shipped_engine,
    shipped_sources,
    trial_run,
)
from engine import kernels

RELU = '''
def gelu(x):
    """Not GELU at all: a ReLU, to see what the model makes of it."""
    return np.maximum(x, 0.0), np.zeros_like(x)
'''
RELU_BOTH = '''
def gelu(x):
    return np.maximum(x, 0.0), x

def gelu_backward(dout, x):
    return dout * (x > 0)
'''


@pytest.fixture
def editor(session):
    lab = Lab(session=session)
    lab.view = "code"
    return lab._views["code"]


def layers_with(extra: str) -> dict[str, str]:
    return {"layers.py": shipped_sources()["layers.py"] + extra}


def test_the_unedited_engine_loads_apart_and_computes_the_same(session):
    installed = sys.modules["engine.model"]
    fresh = load_engine({})
    assert fresh.model is not installed and sys.modules["engine.model"] is installed
    assert fresh.edited == ()
    model = fresh.model.GPT(fresh.model.GPTConfig(**vars(session.config)),
                            params=session.model.params)
    logits, _ = model.forward(np.array(session.ids))
    np.testing.assert_array_equal(logits, session.trace.logits[0])


def test_an_edit_changes_what_every_view_sees_and_reset_brings_it_back(session):
    before = session.next_probs.copy()
    session.use_engine(load_engine(layers_with(RELU)))
    assert session.engine.edited == ("layers.py",)
    assert np.abs(session.next_probs - before).max() > 1e-3
    assert session.trace.blocks[0].mlp_post.min() >= 0.0  # the ReLU is what ran
    assert sys.modules["engine.layers"].gelu(np.array([-1.0]))[0][0] < 0  # installed intact
    session.use_engine(shipped_engine())
    np.testing.assert_allclose(session.next_probs, before, rtol=1e-6)


def test_a_syntax_error_names_the_file_and_line(editor):
    engine = editor.session.engine
    editor.file = "layers.py"
    editor.editor.value = shipped_sources()["layers.py"] + "\ndef broken(:\n"
    editor.run()
    shown = editor._error.object
    assert "SyntaxError" in shown and "layers.py" in shown and "line" in shown
    assert editor.session.engine is engine


def test_code_that_raises_while_running_leaves_the_lab_as_it_was(session):
    engine, probs = session.engine, session.next_probs.copy()
    broken = shipped_sources()["model.py"].replace(
        "        single = np.ndim(idx) == 1",
        "        raise RuntimeError('my bug')\n        single = np.ndim(idx) == 1")
    with pytest.raises(CodeError, match="my bug") as failure:
        session.use_engine(load_engine({"model.py": broken}))
    assert "<edited>/engine/model.py" in failure.value.details
    assert session.engine is engine
    np.testing.assert_array_equal(session.next_probs, probs)


def test_code_that_gives_nan_is_refused(session):
    nan = layers_with("\n_gelu = gelu\n"
                      "def gelu(x):\n    y, t = _gelu(x)\n    return y * np.nan, t\n")
    with pytest.raises(CodeError, match="NaN or infinite logits"):
        session.use_engine(load_engine(nan))


def test_unknown_files_and_import_time_errors_are_refused():
    with pytest.raises(CodeError, match=r"no file evil\.py"):
        load_engine({"evil.py": "print('hi')"})
    with pytest.raises(CodeError, match="boom"):
        load_engine(layers_with("\nraise RuntimeError('boom')\n"))
    assert "engine" in sys.modules and sys.modules["engine.layers"].__file__.endswith(".py")


def test_code_that_never_ends_is_stopped_by_the_trial_run(session):
    with pytest.raises(CodeError, match="more than 2 s"):
        trial_run(layers_with("\nwhile True:\n    pass\n"), vars(session.config),
                  session.model.params, list(session.ids), timeout=2.0)


def test_the_trial_run_reports_the_readers_traceback(session):
    broken = layers_with("\ndef linear(x, w, b):\n    return x @ w.T + b\n")  # wrong shape
    with pytest.raises(CodeError, match="ValueError") as failure:
        trial_run(broken, vars(session.config), session.model.params, list(session.ids), 30)
    assert "<edited>/engine/layers.py" in failure.value.details


def test_only_a_loopback_server_runs_code_unless_its_owner_allows_it():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert CodePolicy.for_server("127.0.0.1", False).allowed
    refused = CodePolicy.for_server("0.0.0.0", False)
    assert not refused.allowed and "--allow-remote-code" in refused.reason
    assert CodePolicy.for_server("0.0.0.0", True).allowed


def test_a_refused_run_says_why_and_changes_nothing(editor):
    editor.session.code_policy = CodePolicy.for_server("0.0.0.0", False)
    editor.editor.value = editor.editor.value + "\n# a harmless edit\n"
    editor.run()
    assert "switched off" in editor._error.object and editor.session.engine.edited == ()


def test_edits_are_saved_restored_validated_and_downloaded(editor):
    editor.file = "sampling.py"
    editor.editor.value = editor.editor.value + "\n# mine\n"
    saved = json.loads(editor.store.value)
    assert list(saved) == ["sampling.py"] and saved["sampling.py"].endswith("# mine\n")
    with zipfile.ZipFile(io.BytesIO(editor._download().read())) as archive:
        assert archive.namelist() == ["engine/sampling.py"]

    editor.edits = {}
    editor.store.value = json.dumps({**saved, "evil.py": "x", "model.py": 3})
    editor.store.loaded = True  # as the browser reports what it had
    assert list(editor.edits) == ["sampling.py"]  # unknown files and non-text dropped

    editor.store.loaded = False
    editor.store.value = "{not json"
    editor.store.loaded = True
    assert editor.store.value == "" and "damaged" in editor.session.message
    editor.store.error = "full"
    assert "storage is full" in editor._status.object


# ---- the gradient check after Run -----------------------------------------------------------

def run_edit(editor, file: str, source: str) -> None:
    editor.file = file
    editor.editor.value = source
    editor.run()


def test_run_checks_an_untouched_engine_and_it_passes(editor):
    editor.run()
    shown = editor._check.object
    assert editor.check.gradients_ok and "computes what the shipped engine does" in shown
    assert "WRONG" not in shown and shown.count("matches (relative error") == 7


def test_a_forward_only_edit_is_flagged_and_training_still_runs(editor):
    run_edit(editor, "layers.py", shipped_sources()["layers.py"] + RELU)
    s = editor.session
    assert s.engine.edited == ("layers.py",) and not editor.check.gradients_ok
    shown = editor._check.object
    assert "follows a wrong gradient" in shown and "gelu and the whole model" in shown
    assert "WRONG" in shown and "changed: by up to" in shown
    assert s.training.train_once() is not None  # the reader may still train with it


def test_a_consistent_edit_passes_and_says_what_changed(editor):
    run_edit(editor, "layers.py", shipped_sources()["layers.py"] + RELU_BOTH)
    assert editor.check.gradients_ok
    assert "changes what gelu and the whole model computes" in editor._check.object
    assert "WRONG" not in editor._check.object


def test_a_check_that_raises_says_so_and_the_lab_goes_on(editor):
    broken = shipped_sources()["gradcheck.py"].replace(
        '    start = time.perf_counter()\n', '    raise RuntimeError("broken check")\n', 1)
    run_edit(editor, "gradcheck.py", broken)
    assert "the check itself failed: RuntimeError: broken check" in editor._check.object
    assert editor.session.engine.edited == ("gradcheck.py",)


def test_reset_clears_the_check(editor):
    run_edit(editor, "layers.py", shipped_sources()["layers.py"] + RELU)
    editor.reset(["layers.py"])
    assert editor._check.object.count("note") == 0 and editor.session.engine.edited == ()


def test_the_trial_run_returns_the_check(session):
    check = trial_run(layers_with(RELU), vars(session.config), session.model.params,
                      list(session.ids), 30)
    assert not check.gradients_ok
    assert {r.name for r in check.rows if not r.backward_ok} == {"gelu", "model"}


def test_a_backward_that_never_ends_is_stopped_by_the_trial_run(session):
    endless = layers_with("\ndef gelu_backward(dout, x):\n    while True:\n        pass\n")
    with pytest.raises(CodeError, match=r"checking its gradients .* more than 3 s"):
        trial_run(endless, vars(session.config), session.model.params, list(session.ids), 3.0)


# ---- running edited code is the session's ---------------------------------------------------

def test_the_session_runs_edited_code_and_resets_it(session):
    check = session.run_code(layers_with(RELU_BOTH))
    assert check.gradients_ok and session.engine.edited == ("layers.py",)
    assert "now runs your edited layers.py" in session.message
    assert session.trace.blocks[0].mlp_post.min() >= 0.0  # the ReLU ran
    session.reset_code()
    assert session.engine.edited == () and session.message == "Back to the shipped engine."
    assert session.trace.blocks[0].mlp_post.min() < 0.0  # GELU again


def test_the_session_refuses_code_where_its_policy_says_so(session):
    session.code_policy = CodePolicy.for_server("0.0.0.0", False)
    engine = session.engine
    with pytest.raises(CodeError, match="--allow-remote-code"):
        session.run_code(layers_with(RELU))
    assert session.engine is engine


# ---- the kernel swap, shown, and the readable code only --------------------------------------

def test_the_code_view_shows_which_kernels_stand_in_for_which_functions(editor):
    shown = editor._swap.object
    assert shown.count("<tr><td>kernels.") == len(kernels.STANDS_IN_FOR)
    assert "<td>kernels.gelu_by_exp, kernels.gelu_backward</td>" in shown  # natively
    assert "layers.attention, layers.attention_backward, layers.softmax" in shown

    run_edit(editor, "layers.py", shipped_sources()["layers.py"] + RELU_BOTH)
    shown = editor._swap.object
    assert "run as written, since their code is not as shipped: gelu, gelu_backward." in shown
    assert "kernels.gelu" not in shown and "<td>kernels.linear, " in shown

    editor.session.readable_only = True
    shown = editor._swap.object
    assert "readable code only" in shown and "<td>kernels." not in shown


def test_a_comment_in_layers_keeps_every_kernel_in_the_view(editor):
    run_edit(editor, "layers.py", shipped_sources()["layers.py"].replace(
        "    mean = x.mean(", "    # the mean of each position's numbers\n    mean = x.mean("))
    assert editor.session.engine.edited == ("layers.py",)
    assert editor._swap.object.count("<tr><td>kernels.") == len(kernels.STANDS_IN_FOR)


def assert_same_logits(a: np.ndarray, b: np.ndarray) -> None:
    """float32 logits within 1e-5 of the largest one."""
    assert a.dtype == b.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(b).max())


def test_the_readable_code_only_computes_what_the_kernels_do(session):
    assert set(session.model.layers.kernels) == set(kernels.STANDS_IN_FOR)
    with_kernels, version = session.trace.logits.copy(), session.weights_version
    session.readable_only = True
    assert session.model.layers.kernels == () and session.weights_version > version
    assert session.model.layers.gelu is session.engine.layers.gelu
    readable = session.trace.logits.copy()
    assert not np.array_equal(readable, with_kernels)  # another computation, the same result
    assert_same_logits(readable, with_kernels)
    session.readable_only = False
    assert set(session.model.layers.kernels) == set(kernels.STANDS_IN_FOR)
    np.testing.assert_array_equal(session.trace.logits, with_kernels)


def test_the_readable_code_only_holds_for_every_model_the_session_makes(session):
    session.readable_only = True
    made = {}
    session.run_code(layers_with(RELU_BOTH))
    made["a new engine"] = session.model
    session.reset_code()
    made["the shipped engine again"] = session.model
    session.reset_weights()
    made["the shipped weights again"] = session.model
    session.training.start_from_zero()
    made["learning from zero"] = session.model
    assert session.training.train_once() is not None
    session.training.train_on_text("a b c d. " * 40)
    made["a new text"] = session.model
    assert {what: model.layers.kernels for what, model in made.items()} == dict.fromkeys(made, ())
    assert len({id(model) for model in made.values()}) == len(made)


def test_a_session_can_start_on_the_readable_code(corpus_text):
    from app.session.session import LabSession
    from engine.weights import load_weights
    from tests.support.models import WEIGHTS_TINY

    checkpoint = load_weights(WEIGHTS_TINY)
    on = LabSession(checkpoint, corpus=corpus_text[:40_000], readable_only=True)
    off = LabSession(checkpoint, corpus=corpus_text[:40_000])
    assert on.model.layers.kernels == () and off.model.layers.kernels != ()
    assert_same_logits(on.trace.logits, off.trace.logits)


def test_the_trial_run_runs_the_readable_code_when_asked(session):
    """A broken kernel fails the trial run, unless the reader runs the readable code only."""
    broken = {"kernels.py": shipped_sources()["kernels.py"].replace(
        "def gelu_by_exp(x: np.ndarray):\n",
        "def gelu_by_exp(x: np.ndarray):\n    raise RuntimeError('broken kernel')\n")}
    session.code_policy = CodePolicy(True, trial_timeout=60.0)
    with pytest.raises(CodeError, match="broken kernel"):
        session.run_code(broken)
    assert session.engine.edited == ()
    session.readable_only = True
    session.run_code(broken)
    assert session.engine.edited == ("kernels.py",) and session.model.layers.kernels == ()
