"""Shared fixtures: small random models, the corpus and the shipped weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine import GPT, GPTConfig, kernels, layers
from engine.kernels import Layers

ROOT = Path(__file__).resolve().parent.parent
WEIGHTS_TINY = ROOT / "weights_tiny"


# every way the model can run its layers: layers.py's functions as written, and the kernels
# that stand in for them natively and in the browser (forced here on any platform)
LAYER_PATHS = {
    "readable": kernels.readable(layers),
    "native": kernels.stand_ins(layers, platform="linux"),
    "browser": kernels.stand_ins(layers, platform="emscripten"),
}


def random_model(config: GPTConfig, seed: int = 0, dtype=np.float64, jitter: float = 0.1,
                 layers: Layers | None = None) -> GPT:
    """A model whose every parameter (LayerNorm gains and biases too) is randomised, so that
    no gradient is zero or symmetric by accident."""
    model = GPT(config, seed=seed, dtype=dtype, layers=layers)
    rng = np.random.default_rng(seed + 1)
    for p in model.params.values():
        p += rng.normal(0.0, jitter, p.shape).astype(dtype)
    return model


@pytest.fixture(scope="session")
def corpus_text() -> str:
    from engine.corpus import load_corpus

    return load_corpus()  # raises CorpusMissing with the command to run


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


# ---- the browser: the system Chromium driven by Playwright, against the real server --------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_local(url: str) -> bool:
    from urllib.parse import urlparse

    parsed = urlparse(url)
    return parsed.scheme in ("data", "blob", "about") or parsed.hostname in ("127.0.0.1",
                                                                            "localhost")


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


def local_page(browser):
    """A page in a fresh context whose requests (its workers' too) may only go to this
    machine: anything else is aborted and recorded in `page.outside`; page errors are
    recorded in `page.errors`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.outside, page.errors = [], []

    def guard(route):
        if is_local(route.request.url):
            route.continue_()
        else:
            page.outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    return page


@pytest.fixture
def page(browser):
    page = local_page(browser)
    yield page
    page.context.close()


def screenshot(page, name: str) -> None:
    """Keep a picture of the page for review (test-artifacts/screens, not committed)."""
    folder = ARTIFACTS / "screens"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
