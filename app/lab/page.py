"""The lab page: the chosen view or a chapter of the tour, with the prompt, the list of views
and the animation's transport bar folded behind one button on a phone.

The page's state lives in the URL hash (see urlstate.py): a link restores it, and the
hash follows every change. A link may bring code (code_link.py): it goes into the Code view
and waits there for the reader's Run. In embed mode the page shows one view, compactly,
its picture first.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path

import panel as pn
import param

from app.i18n import LANGUAGES, language_of
from app.lab import page_text as words
from app.lab.announcer import Announcer
from app.lab.assistive import A_SLIDER, DECREASE, INCREASE, ControlNames, ReaderPreferences
from app.lab.code_link import CodeLinkError, decode, encode
from app.lab.controls import TAP, Controls
from app.lab.keyboard import Keyboard
from app.lab.share import ShareBar
from app.lab.stages import StageChips
from app.lab.urlstate import SESSION_STATE, LabState, parse_hash, to_hash
from app.session.code_runner import CodePolicy, editable, shipped_sources
from app.session.loader import load_session
from app.session.session import LabSession
from app.tour.tour import Tour
from app.views import VIEWS
from app.views.parts.layout import wrap_row
from app.views.parts.markup import esc, html_pane, notes, set_html
from app.views.parts.model_file import ModelBar
from app.views.parts.training_note import TrainingNote
from app.views.parts.view import View
from engine.weights import SHIPPED_WEIGHTS

log = logging.getLogger(__name__)



class Lab(pn.viewable.Viewer):
    """The whole page for one session; `view` is the view shown."""

    session = param.ClassSelector(class_=LabSession)
    view = param.Selector(default=LabState().view, objects=list(VIEWS))
    hidden = param.List(default=[], doc="Parts of the page a link asked to hide.")
    embed = param.Boolean(default=False, doc="One view, compact, for a blog post.")
    link_notes = param.List(default=[], doc="What was wrong with the link's state.")
    tour = param.ClassSelector(class_=Tour, doc="The guided tour (its chapter 0: not touring).")

    def __init__(self, state: str = "", **params):
        # the tour is made before param wires the dependencies: a sub-object set afterwards
        # re-wires them and drops the watchers on `session.*`
        super().__init__(tour=Tour(session=params["session"]), **params)
        self._native = self.session.language  # the reader's own: the browser's, else English
        self._views: dict[str, View] = {}
        self._boxes: dict[str, pn.Column] = {}  # each built view in its own box
        self._title = pn.pane.HTML(sizing_mode="stretch_width")
        self._shown = pn.Column(sizing_mode="stretch_width")
        self._nav = {key: pn.widgets.Button(label=title, color="light", margin=(2, 3),
                                            stylesheets=[TAP])
                     for key, (title, _, _) in VIEWS.items()}
        for key, button in self._nav.items():
            button.on_click(lambda _, key=key: setattr(self, "view", key))
        self._notes = html_pane()
        self._stage = StageChips(session=self.session)
        self.keyboard = Keyboard()
        self.keyboard.param.watch(self._key, "presses")
        self.preferences = ReaderPreferences()
        self.session.clock.reduced_motion = self.preferences.param.reduced_motion
        self._control_names = ControlNames()
        self.assistive = pn.Row(self.preferences, self._control_names,
                                Announcer(session=self.session), height=0, margin=0)
        self.share = ShareBar(language=self.session.param.language)
        self.model_bar = ModelBar(session=self.session)  # Open model…
        self._footer = html_pane()
        self._take_tour = pn.widgets.Button(label=words.TAKE_THE_TOUR, color="primary", width=160,
                                            stylesheets=[TAP])
        self._take_tour.on_click(lambda _: self.tour.go(1))
        self._tagline = html_pane()
        self._apply_state(state)
        self._layout = pn.Column(*self._parts(), sizing_mode="stretch_width",
                                 styles={"max-width": "1200px", "margin": "0 auto"})
        if pn.state.curdoc is not None:
            pn.config.exception_handler = self._show_error  # per session when in a session
        if pn.state.location is not None:
            pn.state.onload(self._take_location)
        self._show_view()
        self._show_chapter()
        self._show_notes()
        self._show_footer()
        self._translate()
        self._write_state()

    # ---- the page's parts -----------------------------------------------------------------

    def _parts(self) -> list:
        s, clock = self.session, self.session.clock
        prompt = pn.widgets.TextAreaInput.from_param(
            s.param.prompt, label="Prompt", height=60 if self.embed else 80,
            sizing_mode="stretch_width", max_length=20_000)
        play = pn.widgets.Toggle.from_param(clock.param.playing, label="▶ Play / ❚❚ Pause",
                                            color="primary", width=150, stylesheets=[TAP])
        back = pn.widgets.Button(label="‹", width=45, description="Back one stage (←)",
                                 stylesheets=[TAP])
        back.on_click(lambda _: clock.back())
        step = pn.widgets.Button(label="›", width=45, description="Forward one stage (→)",
                                 stylesheets=[TAP])
        step.on_click(lambda _: self._step())
        speed = pn.widgets.FloatSlider.from_param(clock.param.speed, label="Speed (steps/s)",
                                                  width=180)
        fastest = pn.widgets.Toggle.from_param(clock.param.fastest, label="as fast as it can",
                                               width=140, align="end")  # all of it clickable
        timeline = pn.widgets.IntSlider.from_param(clock.param.frame, label="Timeline",
                                                   width=260)
        hidden = set(self.hidden)
        if self.embed:
            hidden |= {"header", "nav", "footer", "share", "model"}
        language = pn.widgets.Select.from_param(  # each language named in itself
            s.param.language, options={name: code for code, name in LANGUAGES.items()},
            name=words.LABELS["language"], width=110, stylesheets=[words.UNSEEN_LABEL])
        folded = {"header": wrap_row(language, self._tagline, align_items="center"),
                  "prompt": prompt, "model": self.model_bar,
                  "nav": wrap_row(*self._nav.values()),
                  "transport": pn.Column(wrap_row(back, play, step, speed, fastest, timeline),
                                         self._stage, sizing_mode="stretch_width")}
        self.controls = Controls([self._explained(part) for name, part in folded.items()
                                  if name not in hidden])
        self._labelled = dict(zip((prompt, play, speed, fastest, timeline, self._take_tour,
                                   self.controls.toggle, language), words.LABELS.values(),
                                  strict=True))
        self._labelled |= {button: VIEWS[key][0] for key, button in self._nav.items()}
        title = [] if "header" in hidden else [
            pn.pane.HTML("<h1 style='margin:0.2rem 0;font-size:1.4rem'>Napkin GPT</h1>",
                         margin=(0, 10, 0, 5))]
        top = wrap_row(*title, self.controls.toggle, self._take_tour, align_items="center")
        training = TrainingNote(session=s)  # above every view but Training, as it learns
        picture = [self.tour.header, self._title, training, self._shown, self.tour.footer]
        if self.embed:  # the picture first, the controls under it
            parts = [self._notes, *picture, top, self.controls, self.keyboard, self.assistive]
        else:
            parts = [top, self.controls, self._notes, *picture, self.keyboard, self.assistive,
                     self.share, self._footer]
        return [self._explained(part) for part in parts
                if not (part is self.share and "share" in hidden)
                and not (part is self._footer and "footer" in hidden)]

    # ---- state <-> URL hash ----------------------------------------------------------------

    def _apply_state(self, text: str) -> None:
        state, found = parse_hash(text, self.session)
        found += self._offer_code(state.code)
        self.link_notes = found
        self.session.param.update(**{k: getattr(state, k) for k in SESSION_STATE},
                                  language=state.lang or self.session.language)
        self.hidden = list(state.hide)
        self.model_bar.wanted = state.model.removeprefix("local-")
        if state.tour:  # the chapter brings its view
            self.tour.chapter = state.tour
        else:
            self.tour.chapter = 0
            self.view = state.view if state.view in VIEWS else self.view

    def _offer_code(self, text: str) -> list[str]:
        """Put the code a link brings into the Code view, unrun; what to tell the reader."""
        if not text:
            return []
        sources = shipped_sources()
        try:
            edits = decode(text, {name: sources[name] for name in editable(sources)})
        except CodeLinkError as e:
            return [self.session.tr(e.template, **e.values)]
        self._view("code").offer(edits)
        return [self.session.tr(words.LINK_BRINGS_CODE, files=", ".join(edits))]

    @property
    def views(self) -> dict[str, View]:
        """The views built so far (a view is built the first time it is shown), by key."""
        return dict(self._views)

    def state(self) -> LabState:
        s = self.session
        model = f"local-{s.opened.digest}" if s.model_file else ""
        lang = "" if s.language == self._native == "en" else s.language  # links keep it
        return LabState(view=self.view, tour=self.tour.chapter, hide=tuple(self.hidden),
                        model=model, lang=lang, **{k: getattr(s, k) for k in SESSION_STATE})

    @param.depends("view", "tour.chapter", "session.model_file", "session.opened.digest",
                   "session.language",
                   *(f"session.{k}" for k in SESSION_STATE), watch=True)
    def _write_state(self) -> None:
        text = to_hash(self.state())
        chapter = self.tour.shown
        self.share.param.update(state=text, view=self.view, model_file=self.session.model_file,
                                title=self.session.tr(words.TOUR_TITLE, n=self.tour.chapter,
                                                      title=self.session.tr(chapter.title))
                                if chapter else "")
        if pn.state.location is not None and pn.state.location.hash.lstrip("#") != text:
            pn.state.location.hash = f"#{text}" if text else ""

    def _take_location(self) -> None:
        """Once the page has loaded (under `panel serve` its address reaches Python only
        then): take the state it carries, and follow the reader's later edits of it. A
        view switched to before the page has loaded never reaches the browser."""
        location = pn.state.location
        if location.hash.lstrip("#") or sys.platform != "emscripten":  # served, a bare
            self._follow_location(location.hash)  # address too; the worker's comes later
        location.param.watch(lambda event: self._follow_location(event.new), "hash")

    def _follow_location(self, text: str) -> None:
        """Take the state of the address `text`, unless it is the lab's own; then write the
        lab's own (without the code a link brought: that now lives in the Code view)."""
        if text.lstrip("#") != to_hash(self.state()):
            with pn.io.hold():  # the whole new state reaches the browser as one message
                self._apply_state(text)
                self._show_notes()
                self._write_state()

    # ---- reader actions --------------------------------------------------------------------

    def _step(self) -> None:
        self.session.clock.playing = False
        self.session.clock.tick()

    def _key(self, event) -> None:
        clock = self.session.clock
        match self.keyboard.key:
            case " ":
                clock.toggle()
            case "ArrowRight" if self.tour.chapter:
                self.tour.turn(1)
            case "ArrowLeft" if self.tour.chapter:
                self.tour.turn(-1)
            case "ArrowRight":
                self._step()
            case "ArrowLeft":
                clock.back()

    def _show_error(self, exception: BaseException) -> None:
        """A failed callback: the reader gets one plain sentence, the log the traceback."""
        log.error("callback failed:\n%s", "".join(traceback.format_exception(exception)))
        self.session.clock.playing = False
        self.session.tell(self.session.tr(
            "Something went wrong ({error}). The lab is still usable.",
            error=f"{type(exception).__name__}: {exception}"), "error")

    # ---- drawing ----------------------------------------------------------------------------

    def _view(self, key: str) -> View:
        """The view `key`, built the first time it is asked for, in its own hidden box."""
        if key not in self._views:
            view = self._views[key] = self._build(VIEWS[key][1])
            self._boxes[key] = pn.Column(view, sizing_mode="stretch_width", visible=False)
            self._shown.append(self._boxes[key])
            if key == "code":
                view.param.watch(lambda _: self._share_code(), "edits")
                self._share_code()
        return self._views[key]

    @param.depends("session.language", watch=True)
    def _translate(self) -> None:
        """The page's own words in the session's language (the views redraw their own)."""
        tr = self.session.tr
        with pn.io.hold():
            for widget, label in self._labelled.items():  # a Button's label, others' name
                widget.param.update(**dict.fromkeys({"name", "label"} & set(widget.param),
                                                    tr(label)))
            set_html(self._tagline, f"<p class='explain'>{esc(tr(words.TAGLINE))}</p>")
            self._control_names.param.update(increase=tr(INCREASE), decrease=tr(DECREASE),
                                             slider=tr(A_SLIDER))
            self._show_view_title()
            self._show_footer()

    @param.depends("view", watch=True)
    def _show_view(self) -> None:
        """Show the chosen view. Views are built the first time they are shown, then stay
        in the page, hidden: a switch back only flips which one is visible, and a hidden
        view waits with its updates until it is shown again (see View). Choosing another
        view than the chapter's leaves the tour."""
        _, _, mode = VIEWS[self.view]
        with pn.io.hold():  # the whole switch reaches the browser as one message
            self._view(self.view)
            for key, button in self._nav.items():
                button.color = "primary" if key == self.view else "light"
            self.session.mode = mode
            self._show_view_title()
            for key, view in self._views.items():
                view.active = key == self.view
                self._boxes[key].visible = key == self.view
            if self.tour.shown is not None and self.tour.shown.view != self.view:
                self.tour.chapter = 0

    def _show_view_title(self) -> None:
        title = self.session.tr(VIEWS[self.view][0])
        self._title.object = f"<h2 style='margin:0.3rem 0'>{esc(title)}</h2>"

    @param.depends("tour.chapter", watch=True)
    def _show_chapter(self) -> None:
        """The chapter's view with its section brought forward, between the tour's
        narration and its question; out of the tour, every view whole again."""
        chapter = self.tour.shown
        with pn.io.hold():
            if chapter is not None:
                self.view = chapter.view
                for path, value in chapter.settings:  # what the chapter's picture shows
                    *owners, name = path.split(".")
                    target = self._views[chapter.view]
                    for owner in owners:
                        target = getattr(target, owner)
                    setattr(target, name, value)
            for key, view in self._views.items():
                touring = chapter is not None and key == chapter.view
                view.param.update(focus=chapter.section if touring else "", unfold=False)
            self.tour.header.visible = self.tour.footer.visible = chapter is not None
            self._title.visible = chapter is None and not self.embed
            self._take_tour.visible = chapter is None and not self.embed

    @param.depends("tour.more", watch=True)
    def _unfold(self) -> None:
        """"More of this view": the chapter's view shows its other sections too."""
        if self.tour.shown is not None:
            self._views[self.tour.shown.view].unfold = self.tour.more

    def _share_code(self) -> None:
        """The code view's edits as a link's code part, for the share bar."""
        view = self._views["code"]
        if not view.edits:
            self.share.param.update(code="", code_note="")
            return
        try:
            self.share.param.update(code=encode(view.edits, view.shipped), code_note="")
        except CodeLinkError as e:
            self.share.param.update(code="", code_note=self.session.tr(e.template, **e.values))

    def _build(self, cls) -> View:
        """A view, the first time it is shown."""
        view = cls(session=self.session)
        self._explained(view)
        return view

    def _explained(self, part):
        """`part`, whose explanations (`.explain` in its HTML) a link with hide=explain
        leaves out: style.css hides them in panes of the class "no-explain"."""
        if "explain" in self.hidden:
            for pane in pn.panel(part).select(pn.pane.HTML):
                pane.css_classes = [*pane.css_classes, "no-explain"]
        return part

    @param.depends("session.prompt_notes", "session.message", "link_notes", watch=True)
    def _show_notes(self) -> None:
        s = self.session
        kind = "error" if s.message_kind == "error" else ""
        set_html(self._notes, notes(self.link_notes) + notes(s.prompt_notes)
                 + notes([s.message], kind))

    @param.depends("session.weights_version", watch=True)
    def _show_footer(self) -> None:
        c = self.session.config  # another shape once a model file is opened
        said = self.session.tr(
            "{n_params:,} parameters: {n_layer} blocks of {n_head} heads, width {n_embd}, "
            "context {block_size}. The same NumPy code runs here and in the downloadable "
            "engine.", n_params=c.n_params, n_layer=c.n_layer, n_head=c.n_head,
            n_embd=c.n_embd, block_size=c.block_size)
        set_html(self._footer, f"<p class='explain'>{esc(said)}</p>")

    def __panel__(self):
        return self._layout


def create_lab(weights: Path = SHIPPED_WEIGHTS, corpus: str | None = None, state: str = "",
               embed: bool = False, notice: str = "", code_policy: CodePolicy | None = None,
               language: str = "") -> Lab:
    """The lab page for one browser session.

    state: a URL hash to restore (default: the page's own, under `panel serve`);
    embed: show one view compactly; notice: a message to show at once (for example why
    the page had to restart); code_policy: whether the code editor may run code here
    (default: yes, each run first tried in a child process with a time limit, except in
    the browser, where the page itself stops code that never ends); language: the
    reader's (navigator.language; under serve, the request's Accept-Language).
    """
    if not state and pn.state.location is not None:
        state = pn.state.location.hash
    session = load_session(weights, corpus)
    if not language and sys.platform != "emscripten":  # under serve: the request's
        language = pn.state.headers.get("Accept-Language", "")
    session.language = language_of(language) or "en"
    session.tell(notice)
    if code_policy is None:
        code_policy = CodePolicy() if sys.platform == "emscripten" else CodePolicy(True, 10.0)
    session.code_policy = code_policy
    return Lab(session=session, state=state, embed=embed)

