"""`napkin-gpt serve`: the lab on this machine, with Panel's server.

Every browser tab gets its own session (model, trainer, clock). Panel and Bokeh serve
their JavaScript from the installed packages, so the page needs nothing but this server.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from engine.bpe_tokenizer import BPETokenizer
from engine.corpus import CorpusMissing, load_corpus
from engine.weights import load_weights

log = logging.getLogger(__name__)

SHIPPED_WEIGHTS = Path(__file__).resolve().parent.parent / "weights_tiny"
BPE_FILE = "bpe.json"


def build_session(weights: Path = SHIPPED_WEIGHTS, corpus: str | None = None):
    """A fresh LabSession on the weights in `weights` and the given (or default) corpus."""
    from app.session import LabSession

    checkpoint = load_weights(weights)
    if corpus is None:
        try:
            corpus = load_corpus()
        except CorpusMissing as e:
            log.warning("%s; the lab runs without training text", e)
            corpus = ""
    bpe_path = Path(weights) / BPE_FILE
    bpe = (BPETokenizer.from_dict(json.loads(bpe_path.read_text(encoding="utf-8")))
           if bpe_path.exists() else None)
    return LabSession(checkpoint, corpus=corpus, bpe=bpe)


def create_lab(weights: Path = SHIPPED_WEIGHTS, corpus: str | None = None, state: str = "",
               embed: bool = False, notice: str = ""):
    """The lab page for one browser session.

    state: a URL hash to restore (default: the page's own, under `panel serve`);
    embed: show one view compactly; notice: a message to show at once (for example why
    the page had to restart).
    """
    import panel as pn

    from app.lab import Lab

    if not state and pn.state.location is not None:
        state = pn.state.location.hash
    session = build_session(weights, corpus)
    session.message = notice
    return Lab(session=session, state=state, embed=embed)


def serve(port: int = 5006, address: str = "127.0.0.1", open_browser: bool = True,
          weights: Path = SHIPPED_WEIGHTS) -> None:
    """Run the lab until interrupted."""
    import panel as pn

    load_weights(weights)  # fail now, with the reason, rather than in every session
    pn.extension(notifications=False)
    pn.serve({"/": lambda: create_lab(weights), "/embed": lambda: create_lab(weights, embed=True)},
             port=port, address=address,
             show=open_browser, title="Napkin GPT", websocket_origin=[f"{address}:{port}",
                                                                      f"localhost:{port}"],
             threaded=False, print_url=True)
