"""The lab's colours, for every eye: text on every token chip and every coloured cell keeps
WCAG's 4.5:1 contrast, and the colour maps stay readable to red-green colour-blind eyes,
checked on the colours themselves as deuteranopes and protanopes see them (the Machado,
Oliveira & Fernandes 2009 simulation, full severity) by their CIELAB lightness and ΔE."""

from __future__ import annotations

import colorsys
import re
from importlib import resources

import numpy as np
import pytest

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

from app.site.snapshot import DIVERGING_SHADES, STEPS
from app.views.parts.heatmap import (
    DIVERGING,
    NAN_COLOUR,
    SEQUENTIAL,
    contrast,
    ink,
    inks,
    mapped,
)
from app.views.parts.markup import token_colour

AA = 4.5  # WCAG 2 AA, normal text
# Machado et al. 2009, severity 1.0, on linear RGB
SIMULATIONS = {
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
}
EYES = ["typical", *SIMULATIONS]
STYLE = resources.files("app").joinpath("style.css").read_text(encoding="utf-8")


# ---- colour arithmetic (sRGB, CIELAB D65), written out here apart from the lab's ----------------

def linear(colour: str) -> np.ndarray:
    rgb = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)]) / 255
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def lab(colour: str, eye: str = "typical") -> np.ndarray:
    """CIELAB of `colour` as `eye` sees it."""
    rgb = linear(colour)
    if eye != "typical":
        rgb = np.clip(SIMULATIONS[eye] @ rgb, 0, 1)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ rgb / [0.95047, 1.0, 1.08883]
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def delta_e(a: str, b: str, eye: str) -> float:
    return float(np.linalg.norm(lab(a, eye) - lab(b, eye)))


def hex_of_hsl(css: str) -> str:
    h, s, lightness = (float(x) for x in re.findall(r"[\d.]+", css))
    r, g, b = colorsys.hls_to_rgb(h / 360, lightness / 100, s / 100)
    return "#" + "".join(f"{round(c * 255):02x}" for c in (r, g, b))


def css_colour(selector: str, prop: str = "color") -> str:
    """A colour the lab's stylesheet gives `selector` (a CSS variable is resolved)."""
    rule = re.search(re.escape(selector) + r"\s*\{([^}]*)\}", STYLE).group(1)
    value = re.search(rf"(?:^|[;\s]){prop}:\s*([^;]+);", rule).group(1).strip()
    if value.startswith("var("):
        value = re.search(re.escape(value[4:-1]) + r":\s*(#[0-9a-fA-F]{6})", STYLE).group(1)
    return value


# ---- text keeps 4.5:1 --------------------------------------------------------------------------


def test_the_contrast_of_the_lab_matches_wcag_examples():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # WCAG's edge grey
    assert contrast("#d9480f", "#ffffff") < AA <= contrast("#c2410c", "#ffffff")


def test_every_token_chip_keeps_its_text_readable():
    piece, token_id = css_colour(":host, .napkin"), css_colour(".napkin .chip .id")
    worst = min((contrast(text, hex_of_hsl(token_colour(i))), i)
                for i in range(4096) for text in (piece, token_id))
    print(f"\nthe least contrast on a token chip: {worst[0]:.2f}:1 (token id {worst[1]})")
    assert worst[0] >= AA


def test_text_on_every_colour_of_the_maps_is_black_or_white_whichever_reads():
    for colour in (*SEQUENTIAL, *DIVERGING, NAN_COLOUR):
        assert contrast(ink(colour), colour) >= AA, colour
    assert ink(SEQUENTIAL[0]) == "#000000" and ink(SEQUENTIAL[-1]) == "#ffffff"
    # and the cells' text follows the colours Bokeh draws for the values
    values = np.array([0.0, 0.5, 1.0, np.nan])
    assert mapped(values, SEQUENTIAL, 0.0, 1.0) == [SEQUENTIAL[0], SEQUENTIAL[128],
                                                    SEQUENTIAL[-1], NAN_COLOUR]
    assert inks(values, SEQUENTIAL, 0.0, 1.0)[-1] == "#000000"


@pytest.mark.parametrize("selector", [".napkin .stage.active", ".napkin .vocab-cell.chosen",
                                      ".napkin .onehot .hot"])
def test_white_text_on_the_lab_s_coloured_marks_is_readable(selector):
    assert contrast("#ffffff", css_colour(selector, "background")) >= AA


# ---- colour maps for red-green colour-blind eyes -----------------------------------------------


@pytest.mark.parametrize("eye", EYES)
def test_the_sequential_map_rises_evenly_in_lightness_for_every_eye(eye):
    lightness = np.array([lab(c, eye)[0] for c in SEQUENTIAL])
    # from pale (0) to dark (largest), never back by more than 8-bit rounding
    assert (np.diff(lightness[::4]) < 0).all() and (np.diff(lightness) < 0.5).all()
    assert lightness[0] - lightness[-1] > 70
    # perceptually even: no eighth of the map much flatter than another
    per_32 = -np.diff(lightness[::32])
    assert per_32.min() > 0.6 * per_32.max()
    # colours an eighth of the map apart are told apart at a glance (ΔE ≥ 8)
    assert min(delta_e(a, b, eye) for a, b in zip(SEQUENTIAL, SEQUENTIAL[32:],
                                                  strict=False)) >= 8


@pytest.mark.parametrize("eye", EYES)
def test_the_diverging_map_keeps_its_two_sides_apart_for_every_eye(eye):
    low, middle, high = DIVERGING[0], DIVERGING[len(DIVERGING) // 2], DIVERGING[-1]
    assert middle.lower() in ("#f7f7f7", "#ffffff")  # zero is white
    assert delta_e(low, high, eye) > 40
    assert min(delta_e(low, middle, eye), delta_e(high, middle, eye)) > 40
    # the two sides differ in hue, not only in how dark they are: opposite blue-yellow b*
    # (red against green would be a*, which these eyes lose)
    assert lab(low, eye)[2] < 0 < lab(high, eye)[2]
    # each side fades to white in order
    for side in (DIVERGING[:6], DIVERGING[5:][::-1]):
        lightness = [lab(c, eye)[0] for c in side]
        assert lightness == sorted(lightness)


def test_the_snapshot_draws_the_live_views_maps():
    assert STEPS[0] == SEQUENTIAL[0] and STEPS[-1] == SEQUENTIAL[-1]
    assert set(STEPS) <= set(SEQUENTIAL)
    assert {DIVERGING_SHADES[0], DIVERGING_SHADES[-1]} <= set(DIVERGING)
