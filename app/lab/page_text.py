"""The page's own words (the views and the tour have theirs), marked for the catalogues of
app/i18n and translated where the page draws them."""

from __future__ import annotations

from app.i18n import N_
from app.lab.controls import LABEL as CONTROLS
from app.session.clock import stage_name  # noqa: F401 (the page's stage chips)

TAGLINE = N_("A GPT small enough to write on a napkin, running live. Type a prompt, pick a view, "
             "and press Play (or the space bar; the arrow keys step).")
TAKE_THE_TOUR = N_("▶ Take the tour")
LINK_BRINGS_CODE = N_("This link brings code for {files}. It has not run: the Code view shows "
                      "what it changes, and runs it when you press Run there.")
TOUR_TITLE = N_("tour, chapter {n}: {title}")
LABELS = {"prompt": N_("Prompt"), "play": N_("▶ Play / ❚❚ Pause"),  # the page's widgets
          "speed": N_("Speed (steps/s)"), "fastest": N_("as fast as it can"),
          "timeline": N_("Timeline"), "tour": TAKE_THE_TOUR, "controls": CONTROLS,
          "language": N_("Language")}
# A label a screen reader reads and the eye does not see (the options name themselves)
UNSEEN_LABEL = ("label { position: absolute; width: 1px; height: 1px; overflow: hidden; "
                "clip-path: inset(50%); white-space: nowrap; }")


def footer(tr, c) -> str:
    """What the page's foot says of the model of config `c`."""
    return tr("{n_params:,} parameters: {n_layer} blocks of {n_head} heads, width {n_embd}, "
              "context {block_size}. The same NumPy code runs here and in the downloadable "
              "engine.", n_params=c.n_params, n_layer=c.n_layer, n_head=c.n_head,
              n_embd=c.n_embd, block_size=c.block_size)
