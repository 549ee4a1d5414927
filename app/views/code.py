"""Code: the engine's own source, editable in the page. Run it and every view follows."""

from __future__ import annotations

import difflib
import io
import json
import zipfile

import panel as pn
import param

from app.i18n import N_, translation
from app.session.code_runner import CodeError, reading_groups, shipped_sources
from app.views.parts.layout import READABLE_GUTTER, wrap_row
from app.views.parts.markup import esc, html_pane, notes, set_html
from app.views.parts.storage import BrowserStorage
from app.views.parts.view import View

EXPLAIN = N_(
    "This is the code that runs every picture in the lab: the NumPy GPT itself. Change it "
    "(make attention look ahead by removing the mask in layers.py, or swap GELU for ReLU) and "
    "press Run: the lab imports your version and every view follows.")
EXPLAIN_MORE = N_(
    "For speed, the faster "
    "functions of kernels.py stand in for those of layers.py, but only for the ones whose code "
    "you have not changed (comments and docstrings are yours to change): an edited function "
    "always runs as you wrote it, and the switch below runs all of them as written. If your "
    "code fails, you see why, and the lab keeps the engine it had. After each Run the lab "
    "checks your code on a tiny model: does each layer still compute what it did, and does "
    "its backward pass still match its forward (by finite differences)? Your edits stay in "
    "this browser; Reset brings back the shipped code.")
LINKED_CODE = N_("This link brings code: changes to {files}. It has not run. Read what it "
                 "changes, then press ▶ Run my code to run it (or Reset to drop it).")
WHAT_CHANGED = N_("What the link changes")
STORAGE_KEY = "napkin-gpt:edits:v1"
FIRST_FILE = "layers.py"


class CodeView(View):
    file = param.Selector(default=FIRST_FILE, objects=[FIRST_FILE])
    edits = param.Dict(default={}, doc="file name -> edited source (only changed files)")
    linked = param.Dict(default={}, doc=(
        "file name -> source a link brought, shown but not yet run (cleared by Run or Reset)"))
    check = param.Parameter(default=None, precedence=-1,
                            doc="The gradient check of the engine last Run (an EngineCheck).")

    def __init__(self, **params):
        super().__init__(**params)
        sources = shipped_sources()
        groups = reading_groups(sources)  # the reading path through the engine
        self.shipped = {name: sources[name] for names in groups.values() for name in names}
        self.param.file.objects = list(self.shipped)
        self.store = BrowserStorage(key=STORAGE_KEY)
        self.store.param.watch(self._restore_edits, "loaded")
        self.store.param.watch(lambda _: self._show_status(), "error")
        self.picker = pn.widgets.Select(label=N_("File"), groups=groups, value=self.file,
                                        width=220)
        self.picker.link(self, value="file", bidirectional=True)
        self.editor = pn.widgets.CodeEditor(value=self.shipped[self.file], language="python",
                                            height=480, sizing_mode="stretch_width",
                                            theme="github_light_default",
                                            stylesheets=[READABLE_GUTTER])
        self.editor.param.watch(self._edited, "value")
        run = pn.widgets.Button(label=N_("▶ Run my code"), color="primary", width=150)
        run.on_click(lambda _: self.run())
        reset_file = pn.widgets.Button(label=N_("Reset this file"), width=140)
        reset_file.on_click(lambda _: self.reset([self.file]))
        reset_all = pn.widgets.Button(label=N_("Reset all"), width=110)
        reset_all.on_click(lambda _: self.reset(list(self.shipped)))
        download = pn.widgets.FileDownload(callback=self._download, filename="engine.zip",
                                           label=N_("Download edited files"), width=210)
        readable_only = pn.widgets.Toggle.from_param(
            self.session.param.readable_only, label=N_("Run the readable code only"), width=230)
        self._status = html_pane()
        self._error = html_pane()
        self._check = html_pane()
        self._swap = html_pane()
        self._banner = html_pane()
        self._layout = pn.Column(self._arrange(
            intro=[self.explain(EXPLAIN, EXPLAIN_MORE)],
            editor=[self._banner, self._status, self.editor,
                    wrap_row(self.picker, run, reset_file, reset_all, download),
                    self._error, self._check],
            kernels=[readable_only, self._swap]), self.store, sizing_mode="stretch_width")
        self._show_status()
        self._show_swap()

    # ---- editing ----------------------------------------------------------------------------

    @param.depends("file", watch=True)
    def _open(self) -> None:
        self.editor.value = self.edits.get(self.file, self.shipped[self.file])

    def _edited(self, event) -> None:
        text = event.new
        edits = dict(self.edits)
        if text == self.shipped[self.file]:
            edits.pop(self.file, None)
        else:
            edits[self.file] = text
        self.edits = edits

    @param.depends("edits", watch=True)
    def _save(self) -> None:
        self.store.value = json.dumps(self.edits) if self.edits else ""
        self._show_status()

    def _restore_edits(self, event) -> None:
        """The browser reported what it stored: take the edits that still make sense."""
        if not event.new or not self.store.value:
            return
        try:
            saved = json.loads(self.store.value)
            if not isinstance(saved, dict):
                raise ValueError("not a dict")
        except ValueError:
            self.store.value = ""
            self.session.tell(self.session.tr(
                "The code edits saved in this browser were damaged and have been cleared; the "
                "shipped code is shown."), "error")
            return
        self.edits = {name: text for name, text in saved.items()
                      if name in self.shipped and isinstance(text, str)
                      and text != self.shipped[name]} | self.linked  # a link's code wins
        self._open()

    def offer(self, edits: dict[str, str]) -> None:
        """Code a link brought (file name -> source): put it in the editor, with a banner
        saying what it changes, and do not run it; the reader presses Run."""
        self.linked = {name: text for name, text in edits.items() if name in self.shipped}
        if not self.linked:
            return
        self.edits = {**self.edits, **self.linked}
        self.file = next(iter(self.linked))
        self._open()

    def reset(self, files: list[str]) -> None:
        """Bring back the shipped source of `files`; run the shipped engine again once no
        file is edited, if an edited engine was running."""
        self.edits = {n: t for n, t in self.edits.items() if n not in files}
        self.linked = {n: t for n, t in self.linked.items() if n not in files}
        self._open()
        set_html(self._error, "")
        if not self.edits and self.session.engine.edited:
            set_html(self._check, "")
            try:
                self.session.reset_code()
            except CodeError as e:
                set_html(self._error, error_html(e))
        self._show_status()

    # ---- running ----------------------------------------------------------------------------

    def run(self) -> None:
        """Run the edited engine, or say why not; then show its gradient check."""
        self.linked = {}  # the reader ran it: the link's code is theirs now
        try:
            self.check = self.session.run_code(self.edits)
        except CodeError as e:
            set_html(self._error, error_html(e))
            self._show_status()
            return
        set_html(self._error, "")
        set_html(self._check, check_html(self.check, self.session.tr))
        self._show_status()

    @param.depends("session.language", watch=True)
    def _translate(self) -> None:
        self._show_status()
        self._show_banner()
        if self.check is not None and self._check.object:
            set_html(self._check, check_html(self.check, self.session.tr))

    @param.depends("linked", watch=True)
    def _show_banner(self) -> None:
        """What a link's code changes, as a diff of the shipped files; it has not run."""
        if not self.linked:
            set_html(self._banner, "")
            return
        diffs = "".join(
            f"<pre class='diff'>{esc(diff_text(self.shipped[name], text, name))}</pre>"
            for name, text in self.linked.items())
        tr = self.session.tr
        said = tr(LINKED_CODE, files=", ".join(self.linked))
        set_html(self._banner, f"<div class='note'><p>{esc(said)}</p><details open><summary>"
                               f"{esc(tr(WHAT_CHANGED))}</summary>{diffs}</details></div>")

    def _download(self) -> io.BytesIO:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(self.edits) or [self.file]:
                archive.writestr(f"engine/{name}", self.edits.get(name, self.shipped[name]))
        buffer.seek(0)
        return buffer

    def _show_status(self) -> None:
        running, tr = self.session.engine.edited, self.session.tr
        engine = (tr("your edited {files}", files=", ".join(running)) if running
                  else tr("the shipped engine"))
        lines = [tr("Running: {engine}. Edited here: {files}.", engine=engine,
                    files=", ".join(sorted(self.edits)) or tr("nothing yet"))]
        if self.store.error == "full":
            lines.append(tr("This browser's storage is full: your edits are kept only until "
                            "you close the page. Download them to keep them."))
        elif self.store.error:
            lines.append(tr("This browser does not let the lab store your edits ({error}); "
                            "download them to keep them.", error=self.store.error))
        set_html(self._status, "".join(f"<p>{esc(line)}</p>" for line in lines))

    @param.depends("session.weights_version", "session.readable_only", "session.language",
                   watch=True)
    def _show_swap(self) -> None:
        """Which kernels run now, in place of which readable functions, and which of
        layers.py's functions run as written."""
        s = self.session
        set_html(self._swap, swap_html(s.model.layers, s.engine.kernels, s.readable_only, s.tr))

    def __panel__(self):
        return self._layout


def diff_text(shipped: str, edited: str, name: str) -> str:
    """A unified diff of `edited` against the shipped `name` (plain text, to be escaped)."""
    lines = difflib.unified_diff(shipped.splitlines(keepends=True),
                                 edited.splitlines(keepends=True),
                                 f"shipped/{name}", f"link/{name}", n=2)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def error_html(e: CodeError) -> str:
    """A CodeError's message, and its traceback when it has one."""
    return notes([str(e)], "error") + (
        f"<pre class='traceback'>{esc(e.details)}</pre>" if e.details else "")


# ---- the kernel swap, in words and a table --------------------------------------------------

def _kernel_pair(layers, pair: str) -> str:
    """The kernels of `pair` that `layers` runs, as kernels.<name>."""
    return ", ".join(f"kernels.{getattr(layers, name).__name__}"
                     for name in (pair, f"{pair}_backward"))


def swap_html(layers, kernels, readable_only: bool, tr=None) -> str:
    """Which kernels of kernels.py stand in for which of layers.py's functions in `layers`
    (a kernels.Layers of the engine whose kernels module is `kernels`), and which of
    layers.py's functions run as written; in the language of `tr` (default English)."""
    tr = tr or translation()
    written = kernels.as_written(layers)
    if readable_only:
        said = tr("You asked for the readable code only: every function of layers.py runs as "
                  "written and no kernel stands in (they compute the same, up to rounding, "
                  "only faster).")
    elif not layers.kernels:
        said = tr("No kernel stands in: every function of layers.py runs as written.")
    elif written:
        said = tr("These functions of layers.py run as written, since their code is not as "
                  "shipped: {functions}. For the others, the kernels below stand in.",
                  functions=", ".join(written))
    else:
        said = tr("Every function of layers.py is as shipped, so for speed the kernels below "
                  "stand in for them: the same arithmetic, checked against PyTorch.")
    rows = "".join(
        f"<tr><td>{esc(_kernel_pair(layers, pair))}</td><td>"
        f"{esc(', '.join(f'layers.{n}' for n in kernels.STANDS_IN_FOR[pair]))}</td></tr>"
        for pair in layers.kernels)
    heads = "".join(f"<th>{esc(h)}</th>" for h in (tr("running now"), tr("in place of")))
    table = f"<table class='data swap'><tr>{heads}</tr>{rows}</table>" if rows else ""
    return notes([said]) + table


# ---- the check's report, in words and a table ---------------------------------------------

LABELS = {"model": N_("the whole model")}


def _names(names: list[str], tr) -> str:
    labels = [tr(LABELS.get(n, n)) for n in names]
    return tr("{some} and {last}", some=", ".join(labels[:-1]), last=labels[-1]) \
        if len(labels) > 1 else labels[0]


def check_summary(check, tr=None) -> tuple[str, str]:
    """The check in plain words (in the language of `tr`, default English), and the note's
    kind ("error" when training would be wrong or fail)."""
    tr = tr or translation()
    wrong = [r.name for r in check.rows if r.backward_error is not None and not r.backward_ok]
    failed = [r.name for r in check.rows if r.note]
    changed = [r.name for r in check.rows if r.forward_change is not None
               and not r.forward_same]
    said = []
    if wrong:
        said.append(tr("Training with this code follows a wrong gradient: the backward pass "
                       "of {names} no longer matches its forward pass. You can still train "
                       "with it and see what the model makes of it.", names=_names(wrong, tr)))
    if failed:
        said.append(tr("Checking {names} raised an error (see the table); training may fail "
                       "the same way.", names=_names(failed, tr)))
    if check.stopped:
        said.append(tr("The check did not finish: {why}.", why=check.stopped))
    if not said and changed:
        said.append(tr("Your code changes what {names} computes; every backward pass still "
                       "matches its forward pass, so training follows the true gradient of "
                       "your model's loss.", names=_names(changed, tr)))
    elif not said:
        said.append(tr("Your code computes what the shipped engine does, and every backward "
                       "pass matches its forward pass."))
    said.append(tr("Checked in {seconds:.2f} s on a tiny float64 model.",
                   seconds=check.seconds))
    return " ".join(said), "error" if wrong or failed or check.stopped else ""


def _forward(row, tr) -> str:
    if row.forward_change is None:
        return "–"
    if row.forward_same:
        return tr("the shipped one's")
    return tr("changed: by up to {change:.3g}% of the largest shipped value",
              change=100 * row.forward_change)


def _backward(row, tr) -> str:
    if row.backward_error is None:
        return "–"
    verdict = tr("matches") if row.backward_ok else tr("WRONG")
    return tr("{verdict} (relative error {error:.2g})", verdict=verdict,
              error=row.backward_error)


def check_html(check, tr=None) -> str:
    """The summary, a row per operation, and each parameter tensor's error (in the language
    of `tr`, default English)."""
    tr = tr or translation()
    summary, kind = check_summary(check, tr)
    rows = "".join(
        f"<tr><td>{esc(tr(LABELS.get(r.name, r.name)))}</td><td>{esc(_forward(r, tr))}</td>"
        f"<td>{esc(_backward(r, tr))}</td><td>{esc(r.note)}</td></tr>" for r in check.rows)
    heads = "".join(f"<th>{esc(h)}</th>" for h in (
        tr("operation"), tr("forward"), tr("backward vs finite differences"),
        tr("error raised")))
    table = f"<table class='data check'><tr>{heads}</tr>{rows}</table>"
    params = next((r.errors for r in check.rows if r.name == "model" and r.errors), {})
    detail = ("<details><summary>" + esc(tr(
        "Each parameter tensor of the model: relative error of its gradient"))
              + "</summary><table class='data'>" + "".join(
                  f"<tr><td>{esc(n)}</td><td>{e:.2g}</td></tr>" for n, e in params.items())
              + "</table></details>") if params else ""
    return notes([summary], kind) + table + detail
