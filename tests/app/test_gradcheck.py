"""The gradient check the Code view runs after Run: an untouched engine passes, a consistent
edit passes (its forward change is reported), and an edit whose backward no longer matches
its forward is flagged, on the layer and on the whole model."""

from __future__ import annotations

from app.session.code_runner import load_engine, shipped_sources
from engine import gradcheck, model

RELU_FORWARD_ONLY = '''
def gelu(x):
    """A ReLU in GELU's place, its backward left as GELU's."""
    return np.maximum(x, 0.0), x
'''
RELU_BOTH = RELU_FORWARD_ONLY + '''
def gelu_backward(dout, x):
    return dout * (x > 0)
'''


def check(edits: dict[str, str], **kwargs) -> gradcheck.EngineCheck:
    return gradcheck.check_engine(load_engine(edits).model, model, **kwargs)


def layers_with(extra: str) -> dict[str, str]:
    return {"layers.py": shipped_sources()["layers.py"] + extra}


def rows(report: gradcheck.EngineCheck) -> dict[str, gradcheck.Row]:
    return {row.name: row for row in report.rows}


def test_the_untouched_engine_passes():
    report = check({})
    assert [row.name for row in report.rows] == [*gradcheck.OPS, "model"]
    for row in report.rows:
        assert row.forward_same and row.backward_ok, row
        assert row.note == ""
    assert report.gradients_ok and report.stopped == ""
    assert set(rows(report)["model"].errors) == set(model.GPT(
        model.GPTConfig(7, 5, 1, 2, 8)).params)  # one error per parameter tensor


def test_a_forward_only_edit_is_flagged():
    report = check(layers_with(RELU_FORWARD_ONLY))
    gelu, whole = rows(report)["gelu"], rows(report)["model"]
    assert not gelu.forward_same and gelu.forward_change > 0.01  # a change: reported
    assert not gelu.backward_ok and gelu.backward_error > 0.01  # GELU's slope for a ReLU
    assert not whole.forward_same and not whole.backward_ok
    assert not report.gradients_ok
    assert all(rows(report)[op].backward_ok for op in gradcheck.OPS if op != "gelu")


def test_a_consistent_edit_passes_and_says_what_changed():
    report = check(layers_with(RELU_BOTH))
    gelu, whole = rows(report)["gelu"], rows(report)["model"]
    assert not gelu.forward_same and gelu.backward_ok
    assert not whole.forward_same and whole.backward_ok
    assert report.gradients_ok


def test_a_wrong_kernel_is_flagged_too():
    """The check covers what runs: with layers.py untouched, the kernels."""
    kernels = shipped_sources()["kernels.py"]
    wrong = kernels.replace("    grad *= 0.5\n    grad *= dout\n", "    grad *= dout\n")
    assert wrong != kernels
    report = check({"kernels.py": wrong})
    assert rows(report)["gelu"].forward_same and not rows(report)["gelu"].backward_ok
    assert not report.gradients_ok


def test_a_backward_that_raises_is_noted_and_the_check_goes_on():
    report = check(layers_with("\ndef attention_backward(dout, cache):\n"
                               "    raise RuntimeError('not yet')\n"))
    assert "RuntimeError: not yet" in rows(report)["attention"].note
    assert "not yet" in rows(report)["model"].note
    assert rows(report)["gelu"].backward_ok and not report.gradients_ok


def test_the_check_stops_when_its_time_is_up():
    report = check({}, budget=0.0)
    assert report.rows == [] and "ran out of its 0 s" in report.stopped
    assert not report.gradients_ok


def test_a_report_survives_json():
    import json

    report = check(layers_with(RELU_FORWARD_ONLY))
    again = gradcheck.EngineCheck.from_dict(json.loads(json.dumps(report.to_dict())))
    assert again == report
