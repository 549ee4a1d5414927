"""The lab's state in the URL hash, so that a link restores what its sender saw.

    #view=attention&prompt=ROMEO%3A%0A&layer=1&head=2&temperature=0.8&seed=3&hide=nav,prompt
    #tour=5&hide=prompt,nav,transport          chapter 5 of the tour (its view comes with it)
    #view=code&code=1.eJyLVkrOz0nJ...          a code edit (code_link.py), shown, never run

`lang=es` is the lab's language (app/i18n; without it, the reader's browser's, else English).
`model=local-<digest>` says a model opened from a file was shown (its contents' digest,
app/session/opened.py): a link cannot carry the model itself.

Every value is checked: one that is missing takes its default, one that is malformed or
out of range takes its default too and adds a notice saying so. Unknown keys are noted
and ignored. Text from the hash is only ever used as data (never as HTML or code); the code
part is decoded and checked by code_link.py, and runs only when the reader presses Run.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields, replace
from urllib.parse import parse_qsl, quote

import param

from app.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, translation
from app.session.session import LabSession
from app.tour import CHAPTERS
from app.views import DEFAULT_VIEW, VIEWS

# What a link carries of the session: each a parameter of LabSession, whose default and
# bounds (set per model: a model with 6 blocks allows layer=5) are the link's.
SESSION_STATE = ("prompt", "layer", "head", "temperature", "top_k", "top_p", "seed")
HIDEABLE = ("header", "prompt", "nav", "transport", "explain", "footer")
MAX_PROMPT = 2000
MAX_HASH = 16_000  # characters of hash read at most: a prompt and a code edit
LOCAL_MODEL = re.compile(r"local-[0-9a-f]{12}")  # model=local-<digest> of the opened file


def _default(name: str):
    return LabSession.param[name].default


@dataclass(frozen=True)
class LabState:
    """What a share link carries. The defaults are what a fresh lab shows."""

    view: str = DEFAULT_VIEW
    tour: int = 0  # a chapter of the tour, from 1 (its view comes with it); 0: not touring
    prompt: str = _default("prompt")
    layer: int = _default("layer")
    head: int = _default("head")
    temperature: float = _default("temperature")
    top_k: int = _default("top_k")
    top_p: float = _default("top_p")
    seed: int = _default("seed")
    hide: tuple[str, ...] = ()
    model: str = ""  # "" for a model of the lab's own, else local-<digest>
    code: str = ""  # a code edit (code_link.py), as the link carries it
    lang: str = ""  # the lab's language; "" for the reader's own (the browser's, else English)


def parse_hash(text: str, session: LabSession) -> tuple[LabState, list[str]]:
    """The state in a URL hash ("#a=1&b=2" or "a=1&b=2"), and notices about bad values, in
    the link's language (else the session's); numbers must lie within the bounds `session`
    gives its parameters."""
    notices: list[str] = []
    text = (text or "").lstrip("#")
    pairs = parse_qsl(text[:MAX_HASH], keep_blank_values=True)
    lang = dict(pairs).get("lang")  # a language the lab lacks: English, and a notice in it
    tr = translation(session.language if lang is None else lang)
    if len(text) > MAX_HASH:
        notices.append(tr("The link's state is {n:,} characters long; only the first "
                          "{kept:,} were read.", n=len(text), kept=MAX_HASH))
    values: dict[str, str] = {}
    for key, value in pairs:
        if key not in {f.name for f in fields(LabState)}:
            notices.append(tr("The link has an unknown setting {key}; it was ignored.",
                              key=repr(key)))
        else:
            values[key] = value
    state = LabState()
    checks = {"view": lambda v: _choice(v, VIEWS), "prompt": _prompt, "hide": _hide,
              "model": _model, "tour": lambda v: _ranged(v, int, 1, len(CHAPTERS)),
              "code": str,  # checked by code_link.decode, which says what is wrong
              "lang": lambda v: _choice(v, LANGUAGES)}
    for name in SESSION_STATE[1:]:
        checks[name] = lambda v, p=session.param[name]: _ranged(
            v, int if isinstance(p, param.Integer) else float, *p.bounds)
    for key, raw in values.items():
        try:
            state = replace(state, **{key: checks[key](raw)})
        except ValueError as e:
            default = getattr(LabState(), key)
            if key == "lang":
                state = replace(state, lang=DEFAULT_LANGUAGE)
            why = tr(e.args[0], **(e.args[1:] or [{}])[0])
            notices.append(tr("The link's {setting} {why}; using {default}.",
                              setting=f"{key}={raw[:40]!r}", why=why,
                              default=tr(DEFAULTS.get(key, "")) or repr(default)))
    return state, notices


DEFAULTS = {"prompt": N_("the default"), "lang": N_("English")}


def to_hash(state: LabState) -> str:
    """The hash for `state`, naming only what differs from the defaults."""
    default = LabState()
    parts = []
    for f in fields(LabState):
        value = getattr(state, f.name)
        if value == getattr(default, f.name) or (f.name == "view" and state.tour):
            continue  # a chapter of the tour brings its own view
        if f.name == "hide":
            value = ",".join(value)
        parts.append(f"{f.name}={quote(str(value), safe='')}")
    return "&".join(parts)


def _choice(value: str, options) -> str:
    if value not in options:
        raise ValueError(N_("is not one of {options}"), {"options": ", ".join(options)})
    return value


def _prompt(value: str) -> str:
    if len(value) > MAX_PROMPT:
        raise ValueError(N_("is longer than {n} characters"), {"n": MAX_PROMPT})
    return value


def _ranged(value: str, kind: type[int] | type[float], low, high):
    """`value` read as `kind` (int or float), finite and within low..high."""
    try:
        number = kind(value)
    except ValueError:
        raise ValueError(N_("is not a whole number") if kind is int
                         else N_("is not a number")) from None
    if not (math.isfinite(number) and low <= number <= high):
        raise ValueError(N_("is outside {low}..{high}"), {"low": low, "high": high})
    return number


def _model(value: str) -> str:
    if not LOCAL_MODEL.fullmatch(value):
        raise ValueError(N_("is not local-<12 hex digits>, the name of an opened model"))
    return value


def _hide(value: str) -> tuple[str, ...]:
    parts = tuple(p for p in value.split(",") if p)
    unknown = [p for p in parts if p not in HIDEABLE]
    if unknown:
        raise ValueError(N_("names parts the lab does not have ({unknown}; it can hide "
                            "{parts})"), {"unknown": ", ".join(unknown),
                                          "parts": ", ".join(HIDEABLE)})
    return tuple(dict.fromkeys(parts))
