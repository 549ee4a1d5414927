"""Shared fixtures: the corpus, the shipped weights, a lab session, Chromium.

The tests live by room: tests/engine (the NumPy GPT), tests/app (session, views, lab, site
code, without a browser) and tests/browser (Chromium against `napkin-gpt serve`, the
static site with Pyodide). Everything under tests/browser is marked `browser`, so

    pytest -m "not browser" -n 2    # the fast lane: engine and app, no browser, no site build

Helpers shared between rooms are in tests/support.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

# Under pytest-xdist (the fast lane runs two workers on two cores) each worker's NumPy and
# PyTorch take one thread: with their default of one per core, the two workers' four
# threads fight over two cores and the lane takes 71 s instead of 46. Set before either
# library is imported (this file is the first a worker reads).
if os.environ.get("PYTEST_XDIST_WORKER"):
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")

import pytest

from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS, local_page
from tests.support.models import WEIGHTS_TINY

BROWSER_ROOM = Path(__file__).parent / "browser"


def pytest_collection_modifyitems(items) -> None:
    """Mark every test of tests/browser `browser` (Chromium, Pyodide, the static site)."""
    for item in items:
        if BROWSER_ROOM in Path(item.fspath).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def corpus_text() -> str:
    from engine.corpus import load_corpus

    return load_corpus()  # raises CorpusMissing with the command to run


class ForwardCall(NamedTuple):
    model: object  # the GPT that ran
    shape: tuple[int, ...]  # the shape of the ids it was given


@pytest.fixture
def forward_calls(monkeypatch) -> list[ForwardCall]:
    """Every run of the model from now on, whoever makes it."""
    import numpy as np

    from engine.model import GPT

    calls, original = [], GPT.forward

    def counting(self, idx, *args, **kwargs):
        calls.append(ForwardCall(self, np.shape(idx)))
        return original(self, idx, *args, **kwargs)

    monkeypatch.setattr(GPT, "forward", counting)
    return calls


@pytest.fixture
def session(corpus_text):
    """A lab session on the shipped weights with the first 40,000 characters of the corpus
    (enough for training and a held-out tenth, small enough to build fast)."""
    pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")
    from app.session.loader import load_session

    return load_session(WEIGHTS_TINY, corpus=corpus_text[:40_000])


@pytest.fixture(scope="session")
def shipped():
    from engine.weights import load_weights

    return load_weights(WEIGHTS_TINY)


# ---- the browser: the system Chromium driven by Playwright ----------------------------

@pytest.fixture(scope="session")
def browser():
    import os

    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="Playwright is not installed (pip install playwright)")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no system Chromium at {CHROMIUM} (apt-get install -y chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = local_page(browser)
    yield page
    page.context.close()

