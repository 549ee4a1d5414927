"""What the page loads besides Python: BokehJS and Panel's JavaScript and CSS, as Panel
itself computes them for the lab, and where each file is in the installed packages."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from app.site.panel_private import DIST_URL, extension_names, set_dist_url


class VendorError(Exception):
    """Panel asked for a file the build cannot place."""


@dataclass(frozen=True)
class PageNeeds:
    """What the page must load for the lab, as Panel itself computes it."""

    scripts: list[str]  # in order, as `panel serve` lists them
    stylesheets: list[str]  # Panel's CSS that the lab's documents link to
    extensions: list[str]  # Panel extensions the worker loads (pn.extension)
    on_demand: list[str]  # files ace fetches itself (language mode, theme, snippets)


def page_needs(weights: Path, corpus_text: str) -> PageNeeds:
    """Render the lab once in this process, showing every view, and ask Panel which JS and
    CSS its documents need (the same resolver `panel serve` uses)."""
    import panel as pn
    import param
    from bokeh.document import Document
    from bokeh.embed.util import standalone_docs_json_and_render_items
    from panel.io.resources import Resources, bundle_resources
    from panel.io.state import state

    from app.lab.page import create_lab
    from app.views import VIEWS

    doc = Document()
    set_dist_url(doc, DIST_URL)
    state.curdoc = doc
    modules, stylesheets, ace = set(), set(), set()
    with param.logging_level("ERROR"):  # Panel warns of extensions not loaded yet: see below
        lab = create_lab(weights, corpus=corpus_text)
        doc.add_root(pn.panel(lab).get_root(doc))
        for key in VIEWS:
            lab.view = key
            modules |= {type(m).__module__ for m in doc.models}
            ace |= {(m.language, m.theme) for m in doc.models if type(m).__name__ == "AcePlot"}
            docs_json, _ = standalone_docs_json_and_render_items(
                doc.roots, suppress_callback_warning=True)
            stylesheets |= set(re.findall(re.escape(DIST_URL) + r'[^"?\\]+',
                                          json.dumps(docs_json)))
    extensions = extension_names(modules)
    pn.extension(*extensions)
    js, _ = bundle_resources(doc.roots, Resources(mode="server"))
    scripts = [src.split("?")[0] for src in re.findall(r'src="([^"]+)"', js)]
    ace_dir = next((s.rsplit("/", 1)[0] for s in scripts if s.endswith("/ace.js")), None)
    on_demand = [f"{ace_dir}/{name}" for language, theme in sorted(ace) if ace_dir
                 for name in (f"mode-{language}.js", f"theme-{theme}.js",
                              f"snippets/{language}.js")]
    return PageNeeds(scripts, sorted(stylesheets), sorted(extensions), on_demand)


def vendor_source(url: str) -> Path:
    """The installed file behind a URL of `panel serve`'s static routes."""
    from bokeh.util.paths import bokehjs_path
    from panel.io.resources import DIST_DIR

    if url.startswith("static/js/"):
        return Path(bokehjs_path()) / url.removeprefix("static/")
    if url.startswith(DIST_URL):
        return Path(DIST_DIR) / url.removeprefix(DIST_URL)
    raise VendorError(f"Panel asked for {url}, which is neither BokehJS nor Panel's own")
