"""The lab inside a Pyodide Web Worker, kept in step with the page that shows it.

The static site runs the same `Lab` as `napkin-gpt serve`, but in the browser: Python in a
worker renders the page's Bokeh document as JSON and the page draws it; after that, every
change on either side travels as a Bokeh JSON patch (what Panel's own
`panel convert --to pyodide-worker` does, with the same functions of `panel.io.pyodide`).
The worker's JavaScript only relays messages; everything the lab decides happens here.

    bridge = WorkerBridge(send_patch)      # send_patch(patch, buffers, msg_id): to the page
    page = await bridge.render(weights=..., corpus=..., state="#view=next", ...)
    bridge.handle("rendered", None)        # then "patch" / "location" messages as they come
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from app.site.panel_private import DIST_URL, apply_page_patch, link_to_page, set_dist_url
from app.site.simd import load_matmul


class _Laps:
    """Milliseconds between calls, by name: where the first render spends its time."""

    def __init__(self):
        self.laps: dict[str, int] = {}
        self._last = time.perf_counter()

    def __call__(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round((now - self._last) * 1000)
        self._last = now


class WorkerBridge:
    """One lab document in this worker and its link to the page."""

    def __init__(self, send_patch: Callable[..., Any]):
        # Panel keeps the function it is given when the page reports the first render, so
        # it must live as long as the worker: the worker passes one long-lived function.
        self._send_patch = send_patch
        self._doc = None
        self._link = None  # the link to the page (panel_private.PageLink), once it has drawn
        self.lab = None  # the Lab once rendered (for the browser's console and for tests)

    async def render(self, weights: str, corpus: str | None = None, state: str = "",
                     embed: bool = False, notice: str = "", dist_url: str = DIST_URL,
                     extensions: Iterable[str] = (), language: str = "") -> dict[str, str]:
        """Build the lab for the URL hash `state` and return the page's first render:
        `docs_json`, `render_items` and `root_ids`, each a JSON string, and `timings`, the
        milliseconds each part took (JSON too)."""
        lap = _Laps()
        import panel as pn
        from panel.io.pyodide import init_doc, write_doc
        from panel.io.state import state as pn_state

        lap("import panel")
        from app.lab.page import create_lab

        lap("import lab")
        init_doc()  # a Document with a mock session, held until the page has drawn it
        self._doc = pn_state.curdoc
        # Panel's stylesheets then point at the site's own copies, not at a CDN.
        set_dist_url(self._doc, dist_url)
        pn.extension(*extensions, notifications=False)
        text = Path(corpus).read_text(encoding="utf-8") if corpus else ""
        self.lab = create_lab(Path(weights), corpus=text, state=state, embed=embed,
                              notice=notice, language=language)
        self.lab.session.matmul = load_matmul()  # the linear layers' WebAssembly kernel
        lap("build lab")
        self.lab.servable(title="Napkin GPT")
        lap("Bokeh models")
        docs_json, render_items, root_ids = await write_doc(self._doc)
        lap("serialise")
        return {"docs_json": docs_json, "render_items": render_items, "root_ids": root_ids,
                "timings": json.dumps(lap.laps)}

    def handle(self, kind: str, payload: Any = None) -> None:
        """A message from the page: "rendered" (start syncing), "patch" (a change the reader
        made) or "location" (the page's address, as JSON)."""
        if self._doc is None:
            raise RuntimeError(f"{kind!r} arrived before the lab was rendered")
        if kind == "rendered":
            # Changes made in Python now reach the page; those the page made ("js") are
            # not echoed back. Flushes what was held and fires the lab's onload callbacks.
            self._link = link_to_page(self._doc, self._send_patch)
            clock = self.lab.session.clock
            clock.pace = self._link.caught_up  # an animation's ticks wait for the page
            clock.page_ready = self._link.ready  # training draws only when the page can
        elif kind == "patch":
            # once linked, the lab's answer to each change goes back at once, as one patch
            apply_page_patch(self._doc, payload, self._link.flush if self._link else
                             lambda: None)
        elif kind == "location":
            self._set_location(json.loads(payload))
        else:
            raise ValueError(f"unknown message {kind!r}")

    def strict(self) -> bool:
        """Whether the reader's own code may run on the next message (the Code view is
        shown, or an edited engine is in use): the page then allows it less time."""
        lab = self.lab
        return lab is None or lab.view == "code" or bool(lab.session.engine.edited)

    @staticmethod
    def _set_location(location: dict[str, Any]) -> None:
        """Seed `pn.state.location` with the page's address; afterwards Panel's Location
        model keeps the hash in step both ways."""
        from panel.io.state import state as pn_state
        from panel.util import edit_readonly

        if pn_state.location is None:
            return
        with edit_readonly(pn_state.location):
            pn_state.location.param.update(
                {k: v for k, v in location.items() if k in pn_state.location.param})
