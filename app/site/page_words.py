"""What the static page says before Python runs (boot.js, the page shell) and the stages of
its loading, marked for app/i18n's catalogues. The build writes them into the page's config in
every language; boot.js picks the reader's from the address's `lang=`, else the browser's,
else English, and fills the `{…}` it knows (a reason, an error, seconds)."""

from __future__ import annotations

from app.i18n import LANGUAGES, N_, translation

STAGES = (("runtime", N_("Python runtime")), ("packages", N_("Packages")), ("model", N_("Model")),
          ("render", N_("First render")))
MESSAGES = {  # key -> message; boot.js fills the placeholders left in it
    "runaway": N_("Your code ran for more than {seconds:g} s and was stopped; the lab "
                  "restarted with the shipped engine."),
    "crashed": N_("The page restarted: the Python worker stopped ({reason})."),
    "stuck": N_("The lab did not answer for a minute and was restarted."),
    "outOfStep": N_("The page and Python fell out of step, so the lab was restarted from the "
                    "address."),
    "waiting": N_("Waiting: another Napkin GPT on this page is starting…"),
    "embed": N_("A snapshot. Scroll here or press Go live to run the model."),
    "starting": N_("Starting Python…"),
    "restarting": N_("Restarting…"),
    "ready": N_("Ready."),
    "stopped": N_("Stopped."),
    "unknown": N_("unknown error"),
    "stalled": N_("Loading stopped: nothing happened for {seconds} s."),
    "drawFailed": N_("Drawing the lab failed: {error}"),
    "workerFailed": N_("The Python worker failed: {reason}"),
    "workerRefused": N_("The Python worker could not start: the browser refused to run it. A "
                        "Content Security Policy that does not allow blob: in script-src (or "
                        "worker-src) does this; the site's host must allow it."),
    "stageDone": N_("{stage}: done"),
    "stageAmount": N_("{stage}: {loaded} of {total}"),
}
SHELL = {  # the page shell's words, by its elements' data-words (index.html, embed.html)
    "couldNotStart": N_("The live lab could not start."),
    "isSnapshot": N_("The picture below is a snapshot."),
    "retry": N_("Retry"),
    "goLive": N_("▶ Go live"),
    "snapshotLabel": N_("A snapshot of the lab, shown while the live lab loads"),
}


def page_words(runaway_seconds: float) -> dict[str, dict]:
    """language -> {"messages": key -> text, "shell": key -> text, "stages": id -> label}."""
    words = {}
    for code in LANGUAGES:
        tr = translation(code)
        messages = {key: tr.gettext(text) for key, text in MESSAGES.items()}
        messages["runaway"] = tr(MESSAGES["runaway"], seconds=runaway_seconds)
        words[code] = {"messages": messages,
                       "shell": {key: tr.gettext(text) for key, text in SHELL.items()},
                       "stages": {i: tr.gettext(label) for i, label in STAGES}}
    return words
