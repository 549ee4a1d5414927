"""Every private Panel and Bokeh API the site relies on, in one place.

Panel's own `panel convert --to pyodide-worker` keeps a page and a worker in step with
functions it does not export; the site does the same, with the same functions. They may
change in any Panel release, so the versions they were written against are pinned here
(and in pyproject.toml), and tests/app/test_panel_private.py fails, naming what moved, when
the installed Panel or Bokeh is another one. Update both together.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, NamedTuple

PANEL_VERSION = "1.9.4"
BOKEH_VERSION = "3.9.2"
DIST_URL = "static/extensions/panel/"  # where the site keeps Panel's CSS, as `panel serve`


def set_dist_url(doc, url: str) -> None:
    """Make the documents' stylesheet links point at `url` (the site's own copy of Panel's
    dist/ folder) instead of Panel's CDN: a template variable Panel reads when it renders."""
    doc._template_variables["dist_url"] = url


def extension_names(modules: Iterable[str]) -> list[str]:
    """The `pn.extension(...)` names whose Python modules are among `modules`; Panel keeps
    the mapping in a private dict (ace's module is loaded by the name "codeeditor")."""
    from panel.config import panel_extension

    wanted = set(modules)
    by_module = {module: name for name, module in panel_extension._imports.items()
                 if module in wanted}  # the last name of a module wins, as in Panel
    return list(by_module.values())


def apply_page_patch(doc, patch: Any, after_each: Callable[[], None] = lambda: None) -> None:
    """Apply a JSON patch the page sent (a JS proxy in Pyodide) to the worker's document,
    one event at a time, calling `after_each` after each: what one action of the reader
    changed (a typed edit saved) goes back before the next action (Run) is taken."""
    from bokeh.core.serialization import Serialized
    from panel.io.pyodide import _convert_json_patch

    serialized = _convert_json_patch(patch)
    for event in serialized.content.get("events", []):
        doc.apply_json_patch(Serialized(content={**serialized.content, "events": [event]},
                                        buffers=serialized.buffers), setter="js")
        after_each()


FRAME_SECONDS = 0.2  # the link asks for a new picture at most this often (5 a second)


class PageLink(NamedTuple):
    """What `link_to_page` returns: the worker's side of the link to the page."""

    flush: Callable[[], None]  # send the changes waiting now, whatever the page is doing
    ready: Callable[[], bool]  # the page can take another picture (see link_to_page)
    caught_up: Callable[[], Awaitable]  # until what changed so far is sent and drawn


def link_to_page(doc, send_patch: Callable[..., Any]) -> PageLink:
    """From now on, send every change made in Python to the page as a JSON patch; changes
    the page made (setter "js") are not echoed back. Flushes what was held meanwhile.

    Panel's own `_link_docs_worker` sends one message per changed property: a new token
    changes a dozen, and each message costs a serialisation here and a redraw there. This
    is the same link with at most one patch on its way at a time: the changes made while
    the page draws the last one wait, and go out as one patch once it has drawn (worker.js's
    `pageCaughtUp`; without it, after a turn of the event loop). `ready()` tells work that
    can draw whenever it likes (training) when to: nothing waits, the page has drawn every
    patch, and the last one went out FRAME_SECONDS ago or more."""
    import asyncio
    import functools
    import time

    import js
    import pyodide.ffi
    from bokeh.events import DocumentReady
    from panel.io.pyodide import _dict_converter, _process_document_events
    from panel.io.state import state

    waiting: list = []
    due: list[asyncio.Task] = []  # the task that sends what waits, once the page has drawn
    sent = [0.0]  # when the last patch went out (time.monotonic)
    page_caught_up = getattr(js, "pageCaughtUp", None)
    page_ready = getattr(js, "pageReady", lambda: True)

    def flush() -> None:
        events = waiting[:]
        waiting.clear()
        if events:
            sent[0] = time.monotonic()
            patch, buffers = _process_document_events(doc, events)
            send_patch(pyodide.ffi.to_js(patch, dict_converter=_dict_converter),
                       js.Map.new(js.Object.entries(pyodide.ffi.to_js(buffers))))

    async def send_when_drawn() -> None:
        try:
            await (page_caught_up() if page_caught_up else asyncio.sleep(0))
        finally:
            due.clear()
        flush()

    def collect(event) -> None:
        if getattr(event, "setter", None) == "js":
            return
        waiting.append(event)
        if not due:
            due.append(asyncio.ensure_future(send_when_drawn()))

    def ready() -> bool:
        return (not waiting and not due and time.monotonic() - sent[0] >= FRAME_SECONDS
                and bool(page_ready()))

    async def caught_up() -> None:
        if due:  # shielded: a clock cancelled while it waits must not cancel the sending
            await asyncio.shield(due[0])
        if page_caught_up:
            await page_caught_up()

    doc.on_change(collect)
    doc.unhold()
    doc.on_event("document_ready", functools.partial(state._schedule_on_load, doc))
    doc.callbacks.trigger_event(DocumentReady())
    return PageLink(flush, ready, caught_up)


def private_names() -> dict[str, bool]:
    """Whether each private name above exists in the installed Panel and Bokeh (the test
    checks them all). panel.io.pyodide imports only inside Pyodide, so its functions are
    looked for in its source."""
    import ast
    import importlib.util
    from pathlib import Path

    from bokeh.document import Document
    from panel.config import panel_extension
    from panel.io.state import state

    source = Path(importlib.util.find_spec("panel.io.pyodide").origin).read_text("utf-8")
    functions = {node.name for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    return {"Document._template_variables": hasattr(Document(), "_template_variables"),
            "panel_extension._imports": isinstance(getattr(panel_extension, "_imports", None),
                                                   dict),
            "state._schedule_on_load": callable(getattr(state, "_schedule_on_load", None)),
            **{f"panel.io.pyodide.{name}": name in functions
               for name in ("_convert_json_patch", "_process_document_events", "init_doc",
                            "write_doc")},
            "panel.io.pyodide._dict_converter": "_dict_converter =" in source}
