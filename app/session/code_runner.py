"""Run the engine from edited source: the code editor's Run button.

The edited files and the untouched shipped ones are imported together as a fresh copy of
the `engine` package, kept apart from the installed one: while it loads, `engine.*` in
`sys.modules` is swapped out and an in-memory finder serves the sources; afterwards the
installed modules are put back. If anything raises, nothing changes and the traceback
(with the edited files' names and lines) goes to the reader.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import json
import linecache
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import ModuleType

PACKAGE = "engine"
# engine files the lab runs only while it starts (the package's imports, loading the weights
# and the text, tuning malloc): an edit to them could not take effect, so none is offered
STARTUP_ONLY = ("__init__.py", "allocator.py", "corpus.py", "weights.py")
MAX_SOURCE = 400_000  # characters per file
# The engine's files in the order a reader learns them, by group: the Code view's file picker
# and the README's map of the engine follow it (the picker leaves out STARTUP_ONLY files)
READING_PATH: dict[str, tuple[str, ...]] = {
    "model": ("layers.py", "model.py", "trace.py", "kernels.py", "fingerprint.py"),
    "training": ("data.py", "optim.py", "train.py"),
    "sampling": ("sampling.py",),
    "tokenizers": ("tokenizer.py", "char_tokenizer.py", "bpe_tokenizer.py"),
    "explainers": ("lens.py", "heads.py", "residual.py", "pca.py", "compare.py", "scale.py",
                   "gradcheck.py", "experiments.py"),
    "file formats": ("quant.py", "gguf_file.py", "gguf_header.py", "weights.py", "ceiling.py"),
}


@dataclass(frozen=True)
class CodePolicy:
    """Whether the editor may run a reader's code here, and how it is guarded.

    In the browser the code runs in the reader's own tab: always allowed, and the page
    stops code that never ends by restarting its worker. Under `napkin-gpt serve` it runs on
    the server, so only while the server listens on loopback (the default) unless its owner
    says otherwise, and each run is first tried in a child process with a time limit.
    """

    allowed: bool = True
    trial_timeout: float | None = None  # seconds for the trial run; None: no trial
    reason: str = ""  # why running is refused

    @classmethod
    def for_server(cls, address: str, allow_remote: bool, timeout: float = 10.0) -> CodePolicy:
        if is_loopback(address) or allow_remote:
            return cls(True, timeout)
        return cls(False, None, (
            f"Running edited code is switched off: this lab is served on {address}, so a "
            "visitor's code would run on the server's machine. Its owner can restart it with "
            "--allow-remote-code to allow this (only on a network they trust)."))


def is_loopback(address: str) -> bool:
    """Whether a server listening on `address` can only be reached from this machine."""
    import ipaddress

    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class CodeError(Exception):
    """Edited code that does not load or run; `details` is the traceback to show."""

    def __init__(self, message: str, details: str = ""):
        super().__init__(message)
        self.details = details


@dataclass(frozen=True)
class Engine:
    """One engine, shipped or built from edited sources: every one of its modules, by name
    (`engine.model`, `engine.quant`, ...). All the model code the lab runs comes from here.

    `getattr(engine, "gguf", None)` asks for a module that an engine may not have.
    """

    modules: dict[str, ModuleType]
    edited: tuple[str, ...] = ()  # file names that differ from the shipped ones
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    def __getattr__(self, name: str) -> ModuleType:
        try:
            return self.__dict__["modules"][name]
        except KeyError:
            raise AttributeError(f"the engine has no module {name!r}") from None


def shipped_sources() -> dict[str, str]:
    """file name -> source of every module of the installed engine."""
    files = resources.files(PACKAGE)
    return {f.name: f.read_text(encoding="utf-8") for f in sorted(files.iterdir(),
                                                                 key=lambda f: f.name)
            if f.name.endswith(".py")}


def editable(sources: dict[str, str]) -> list[str]:
    """The files the editor offers, in reading order: every module the lab runs after it
    has started."""
    return [name for names in reading_groups(sources).values() for name in names]


def reading_groups(sources: dict[str, str]) -> dict[str, list[str]]:
    """The files of `sources` the editor offers, grouped and ordered as READING_PATH has
    them; a file the path does not name yet comes last, under "more"."""
    offered = [name for name in sources if name not in STARTUP_ONLY]
    on_path = [name for names in READING_PATH.values() for name in names]
    groups = {group: [name for name in names if name in offered]
              for group, names in READING_PATH.items()}
    groups["more"] = [name for name in offered if name not in on_path]
    return {group: names for group, names in groups.items() if names}


def module_names(sources: dict[str, str]) -> list[str]:
    """Every module of the package (the package itself is `__init__.py`)."""
    return [name.removesuffix(".py") for name in sources if name != "__init__.py"]


def shipped_engine() -> Engine:
    """The installed engine."""
    return Engine({name: importlib.import_module(f"{PACKAGE}.{name}")
                   for name in module_names(shipped_sources())})


class _SourceFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Serves `engine` and `engine.<name>` from a dict of sources."""

    def __init__(self, sources: dict[str, str], tag: str):
        self.sources, self.tag = sources, tag

    def _file(self, fullname: str) -> str | None:
        if fullname == PACKAGE:
            return "__init__.py"
        prefix = f"{PACKAGE}."
        name = fullname[len(prefix):] + ".py" if fullname.startswith(prefix) else None
        return name if name in self.sources else None

    def find_spec(self, fullname, path=None, target=None):
        file = self._file(fullname)
        if file is None:
            return None
        spec = importlib.machinery.ModuleSpec(fullname, self, is_package=fullname == PACKAGE,
                                              origin=self._origin(file))
        spec.has_location = True
        return spec

    def _origin(self, file: str) -> str:
        return f"<{self.tag}>/{PACKAGE}/{file}"  # tracebacks name it; SyntaxError says file

    def exec_module(self, module: ModuleType) -> None:
        file = self._file(module.__name__)
        origin = self._origin(file)
        source = self.sources[file]
        linecache.cache[origin] = (len(source), None, source.splitlines(True), origin)
        exec(compile(source, origin, "exec"), module.__dict__)


def load_engine(edits: dict[str, str], tag: str = "edited") -> Engine:
    """A fresh engine from the shipped sources with `edits` (file name -> source) applied.

    Raises CodeError with the traceback if any module fails to compile or import.
    """
    shipped = shipped_sources()
    unknown = sorted(set(edits) - set(shipped))
    if unknown:
        raise CodeError(f"the engine has no file {', '.join(unknown)}")
    fixed = sorted(n for n, s in edits.items() if n in STARTUP_ONLY and s != shipped[n])
    if fixed:
        raise CodeError(f"{', '.join(fixed)} runs only while the lab starts, so an edit to it "
                        "could not take effect; the editor does not offer it")
    too_long = [n for n, s in edits.items() if len(s) > MAX_SOURCE]
    if too_long:
        raise CodeError(f"{', '.join(too_long)} is longer than {MAX_SOURCE:,} characters")
    sources = shipped | edits
    installed = {n: m for n, m in sys.modules.items()
                 if n == PACKAGE or n.startswith(f"{PACKAGE}.")}
    finder = _SourceFinder(sources, tag)
    for name in installed:
        del sys.modules[name]
    sys.meta_path.insert(0, finder)
    try:
        modules = {name: importlib.import_module(f"{PACKAGE}.{name}")
                   for name in module_names(sources)}
    except BaseException as e:
        raise CodeError(f"your code did not load: {type(e).__name__}: {e}",
                        _traceback(e)) from None
    finally:
        sys.meta_path.remove(finder)
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]
        sys.modules.update(installed)
    edited = tuple(sorted(n for n, s in edits.items() if s != shipped[n]))
    return Engine(modules, edited=edited, sources=sources)


def _traceback(e: BaseException) -> str:
    """The traceback through the engine's code only (the lab's and importlib's frames are
    not the reader's business)."""
    frames = traceback.extract_tb(e.__traceback__)
    frames = [f for f in frames if f.filename.startswith("<edited>/")] or frames
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(e), e)
    if isinstance(e, SyntaxError):  # the offending line, with its caret
        lines = traceback.format_exception_only(type(e), e)
    return "".join(lines)


def describe_failure(e: BaseException) -> CodeError:
    """A CodeError for an exception raised while running edited code."""
    return CodeError(f"your code failed while running: {type(e).__name__}: {e}",
                     _traceback(e))


# ---- the gradient check, after each Run -------------------------------------------------------

CHECK_BUDGET = 1.5  # seconds; the check stops between its rows after this (see gradcheck.py)


def run_check(engine: Engine, budget: float = CHECK_BUDGET):
    """The engine's own gradient check (its gradcheck.py) of its layers and model against the
    shipped model: a gradcheck.EngineCheck. If the check itself raises, a report saying so."""
    shipped = shipped_engine()
    try:
        return engine.gradcheck.check_engine(engine.model, shipped.model, budget)
    except Exception as e:
        return shipped.gradcheck.EngineCheck(
            [], 0.0, f"the check itself failed: {type(e).__name__}: {e}")


# ---- a trial run in a separate process (under `napkin-gpt serve`) -----------------------------

TRIAL = """
import json, sys
import numpy as np
from app.session.code_runner import CodeError, describe_failure, load_engine, run_check
job = json.load(sys.stdin)
try:
    engine = load_engine(job["edits"], tag="edited")
    with np.load(job["params"]) as arrays:
        params = {name: arrays[name] for name in arrays.files}
    try:
        layers = engine.kernels.readable(engine.layers) if job["readable_only"] else None
        model = engine.model.GPT(engine.model.GPTConfig(**job["config"]), params=params,
                                 layers=layers)
        model.forward(np.array(job["ids"]))
    except Exception as e:
        raise describe_failure(e) from None
    print(json.dumps({"forward": "ran"}), flush=True)
    print(json.dumps({"check": run_check(engine).to_dict()}), flush=True)
except CodeError as e:
    print(json.dumps({"error": str(e), "details": e.details}))
"""


def trial_run(edits: dict[str, str], config: dict, params: dict, ids: list[int],
              timeout: float, readable_only: bool = False):
    """Load the edited engine, run one forward pass (on layers.py's functions as written,
    with `readable_only`) and the gradient check in a child process first, so that code
    that never ends cannot hang the server: CodeError if it fails or overruns, else the
    check's report (a gradcheck.EngineCheck)."""
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "params.npz"
        np.savez(weights, **params)
        job = json.dumps({"edits": edits, "config": config, "params": str(weights),
                          "ids": ids, "readable_only": readable_only})
        try:
            done = subprocess.run([sys.executable, "-c", TRIAL], input=job, text=True,
                                  capture_output=True, timeout=timeout,
                                  cwd=Path(__file__).resolve().parents[2])
        except subprocess.TimeoutExpired as e:
            if any("forward" in line for line in _json_lines(e.stdout)):
                raise CodeError(
                    f"your code's forward pass ran, but checking its gradients (which runs its "
                    f"backward pass) took more than {timeout:g} s in a trial run and was "
                    "stopped: a backward pass that never ends would hang training, so the lab "
                    "keeps the engine it had") from None
            raise CodeError(f"your code ran for more than {timeout:g} s in a trial run and was "
                            "stopped; the lab keeps the engine it had") from None
    lines = _json_lines(done.stdout)
    if lines and "error" in lines[-1]:
        raise CodeError(lines[-1]["error"], lines[-1]["details"])
    if done.returncode != 0 or not lines or "check" not in lines[-1]:
        errors = done.stderr.strip().splitlines()
        raise CodeError(f"your code failed in a trial run: {errors[-1] if errors else ''}",
                        done.stderr[-6000:])
    return shipped_engine().gradcheck.EngineCheck.from_dict(lines[-1]["check"])


def _json_lines(out: str | bytes | None) -> list[dict]:
    """The trial's messages among whatever else the reader's code printed."""
    text = out.decode(errors="replace") if isinstance(out, bytes) else out or ""
    messages = []
    for line in text.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            messages.append(message)
    return messages
