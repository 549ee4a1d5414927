"""One engine handle: every engine file the editor offers is loaded and reachable as
`session.engine.<module>`, and every piece of model code the lab runs (the quantization lab's
quantizer and quantized model, the scale view's counts, the tokenizers) comes from it."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

from app.lab.page import Lab
from app.session import code_runner
from app.session.code_runner import READING_PATH, CodeError, load_engine, shipped_sources
from app.session.quantization import QuantizationLab
from app.views.scale import ScaleView
from tests.support.models import ROOT

SOURCES = shipped_sources()
# the files the lab runs only while it starts: an edit to them could not take effect
STARTUP_ONLY = ("__init__.py", "allocator.py", "corpus.py", "weights.py")
OFFERED = [name for name in SOURCES if name not in STARTUP_ONLY]


def edited(name: str, extra: str = "", old: str = "", new: str = "") -> dict[str, str]:
    source = SOURCES[name]
    if old:
        assert old in source, f"{old!r} is not in {name}"
        source = source.replace(old, new)
    return {name: source + extra}


@pytest.mark.parametrize("name", OFFERED)
def test_every_offered_file_is_loaded_and_reachable(name):
    engine = load_engine(edited(name, f"\nEDIT_MARKER = {name!r}\n"))
    assert engine.edited == (name,)
    assert name == getattr(engine, name.removesuffix(".py")).EDIT_MARKER


def test_the_editor_offers_exactly_what_can_take_effect(session):
    lab = Lab(session=session)
    lab.view = "code"
    offered = lab._views["code"].param.file.objects
    assert offered == code_runner.editable(SOURCES) and sorted(offered) == sorted(OFFERED)
    assert "quant.py" in offered and "scale.py" in offered and "layers.py" in offered
    with pytest.raises(CodeError, match="only while the lab starts"):
        load_engine(edited("weights.py", "\n# mine\n"))


# ---- the reading path through the engine ------------------------------------------------------

def test_every_engine_file_is_on_the_reading_path_once_or_runs_only_at_start_up():
    on_path = [name for names in READING_PATH.values() for name in names]
    engine_files = sorted(path.name for path in (ROOT / "engine").glob("*.py"))
    assert sorted(SOURCES) == engine_files
    twice = sorted({name for name in on_path if on_path.count(name) > 1})
    assert twice == [], f"on the reading path more than once: {twice}"
    missing = [name for name in engine_files if name not in on_path + list(STARTUP_ONLY)]
    assert missing == [], (f"engine files missing from the reading path: {missing}; add each "
                           "to its group of READING_PATH in app/session/code_runner.py")
    unknown = sorted(set(on_path) - set(engine_files))
    assert unknown == [], f"the reading path names files the engine does not have: {unknown}"


def test_the_picker_offers_the_files_in_reading_order(session):
    lab = Lab(session=session)
    lab.view = "code"
    view = lab._views["code"]
    expected = {group: [name for name in names if name not in STARTUP_ONLY]
                for group, names in READING_PATH.items()}
    assert view.picker.groups == expected  # every group has a file the editor offers
    assert view.param.file.objects == [name for names in expected.values() for name in names]
    assert "weights.py" in READING_PATH["file formats"] and "weights.py" not in view.shipped
    view.picker.value = "optim.py"
    assert view.file == "optim.py" and view.editor.value == SOURCES["optim.py"]
    view.file = "gguf_file.py"
    assert view.picker.value == "gguf_file.py"


def test_an_engine_without_a_module_says_so(session):
    assert getattr(session.engine, "no_such_module", None) is None
    with pytest.raises(AttributeError, match="no module 'no_such_module'"):
        session.engine.no_such_module  # noqa: B018


def test_an_edit_to_quant_reaches_the_quantization_lab(session):
    """Bug 2 of issue 9: quant.py was offered, reported as running, and had no effect."""
    session.use_engine(load_engine(edited(
        "quant.py", old='return name.startswith("h.") and name.endswith(".w")',
        new='return name == "wte" or (name.startswith("h.") and name.endswith(".w"))')))
    lab = QuantizationLab(session=session, which="block matrices", active=True)
    assert "wte" in lab.report.quantized


def test_the_quantized_side_runs_the_edited_model_code(session):
    """Bug 1 of issue 9: the quantized model ran the shipped GPT while the float one ran the
    edited one, so the two differed by more than quantization."""
    session.use_engine(load_engine(edited(  # the MLP's GELU becomes a ReLU in model.py
        "model.py", old='mlp_post, cache["mlp.gelu"] = layers.gelu(mlp_pre)',
        new='mlp_post, cache["mlp.gelu"] = np.maximum(mlp_pre, 0.0), mlp_pre')))
    lab = QuantizationLab(session=session, active=True)
    _, trace = lab.model.forward(np.array(session.ids))
    assert trace.blocks[0].mlp_post.min() >= 0.0  # the reader's ReLU ran
    engine = session.engine
    same_code = engine.model.GPT(session.config, params=lab.model.params)
    expected = engine.layers.softmax(
        same_code.forward(np.array(session.ids))[0][-1].astype(np.float64))
    np.testing.assert_allclose(lab.quant_probs, expected, rtol=1e-6, atol=1e-9)


def test_an_edit_to_scale_reaches_the_scale_view(session):
    view = ScaleView(session=session)
    assert "<td>96</td>" in view._table.object and "<td>97</td>" not in view._table.object
    session.use_engine(load_engine(edited(
        "scale.py", old="n_layer=96, n_head=96", new="n_layer=97, n_head=96")))
    assert "<td>97</td>" in view._table.object


def test_an_edit_to_the_tokenizer_reaches_the_prompt(session):
    session.use_engine(load_engine(edited(
        "char_tokenizer.py", old="    def piece(self, id: int) -> str:\n",
        new="    def piece(self, id: int) -> str:\n        return '<' + self.itos[id] + '>'\n"
            "\n    def _shipped_piece(self, id: int) -> str:\n")))
    assert all(p.startswith("<") for p in session.pieces(session.ids))


def test_an_edit_to_gguf_file_reaches_the_download(session):
    pytest.importorskip("gguf", reason="the gguf package is not installed")
    from app.views.parts.gguf_download import GGUFDownload

    download = GGUFDownload(session=session, fmt="q8_0", active=True)
    quantized = download.size
    assert "block matrices Q8_0" in download._note.object
    session.use_engine(load_engine(edited(  # every tensor stays f32, whatever the type asked
        "gguf_file.py", old='    if name == "wte":\n        return "q8_0" if',
        new='    return "f32"\n    if name == "wte":\n        return "q8_0" if')))
    assert "block matrices F32" in download._note.object and download.size > 3 * quantized
    assert len(download._file().getvalue()) == download.size
