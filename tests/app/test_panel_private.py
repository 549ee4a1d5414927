"""The private Panel/Bokeh API the static site uses is still there, in the pinned versions."""

from __future__ import annotations

import pytest

pytest.importorskip("panel", reason="the site needs Panel (pip install -e '.[app]')")

from app.site.panel_private import BOKEH_VERSION, PANEL_VERSION, private_names


def test_the_installed_panel_and_bokeh_are_the_pinned_ones():
    import bokeh
    import panel

    assert (panel.__version__, bokeh.__version__) == (PANEL_VERSION, BOKEH_VERSION), (
        "Panel or Bokeh changed version: check every function of app/site/panel_private.py "
        "against the new release, then update the pins there and in pyproject.toml")


def test_every_private_name_still_exists():
    missing = [name for name, found in private_names().items() if not found]
    assert not missing, f"gone from this Panel/Bokeh: {', '.join(missing)}"


def test_ace_is_loaded_by_the_name_panel_gives_it():
    from app.site.panel_private import extension_names

    assert extension_names(["panel.models.ace"]) == ["codeeditor"]
