"""The page's own words (the views and the tour have theirs), marked for the catalogues of
app/i18n and translated where the page draws them."""

from __future__ import annotations

from app.i18n import N_

TAGLINE = N_("A GPT small enough to write on a napkin, running live. Type a prompt, pick a view, "
             "and press Play (or the space bar; the arrow keys step).")
TAKE_THE_TOUR = N_("▶ Take the tour")
LINK_BRINGS_CODE = N_("This link brings code for {files}. It has not run: the Code view shows "
                      "what it changes, and runs it when you press Run there.")
TOUR_TITLE = N_("tour, chapter {n}: {title}")
LABELS = {"prompt": N_("Prompt"), "play": N_("▶ Play / ❚❚ Pause"),
          "speed": N_("Speed (steps/s)"), "fastest": N_("as fast as it can"),
          "timeline": N_("Timeline")}
# the clock's stages (app/session/clock.py's timeline), by name or by kind
STAGES = {"tokens": N_("tokens"), "embedding": N_("embedding"), "logits": N_("logits"),
          "sample": N_("sample"), "batch": N_("batch"), "forward": N_("forward"),
          "loss": N_("loss"), "backward": N_("backward"), "update": N_("update"),
          "attention": N_("block {i} attention"), "MLP": N_("block {i} MLP"),
          "example": N_("example {i}")}


def stage_name(tr, stage: str) -> str:
    """A stage of the clock (app/session/clock.py's timeline) in the reader's language."""
    kind, *rest = stage.split()
    if kind in ("block", "example"):
        return tr(STAGES[rest[-1] if kind == "block" else kind], i=int(rest[0]))
    return tr(STAGES.get(stage, stage))
