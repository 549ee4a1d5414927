"""`napkin-gpt serve`: the lab on this machine, with Panel's server.

Every browser tab gets its own session (model, trainer, clock). Panel and Bokeh serve
their JavaScript from the installed packages, so the page needs nothing but this server.
"""

from __future__ import annotations

import json
import logging
import sys
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
               embed: bool = False, notice: str = "", code_policy=None):
    """The lab page for one browser session.

    state: a URL hash to restore (default: the page's own, under `panel serve`);
    embed: show one view compactly; notice: a message to show at once (for example why
    the page had to restart); code_policy: whether the code editor may run code here
    (default: yes, each run first tried in a child process with a time limit).
    """
    import panel as pn

    from app.code_runner import CodePolicy
    from app.lab import Lab

    if not state and pn.state.location is not None:
        state = pn.state.location.hash
    session = build_session(weights, corpus)
    session.message = notice
    if code_policy is None:
        code_policy = CodePolicy() if sys.platform == "emscripten" else CodePolicy(True, 10.0)
    session.code_policy = code_policy
    return Lab(session=session, state=state, embed=embed)


def serve(port: int = 5006, address: str = "127.0.0.1", open_browser: bool = True,
          weights: Path = SHIPPED_WEIGHTS, allow_remote_code: bool = False) -> None:
    """Run the lab until interrupted."""
    import panel as pn

    from app.code_runner import CodePolicy, is_loopback

    load_weights(weights)  # fail now, with the reason, rather than in every session
    policy = CodePolicy.for_server(address, allow_remote_code)
    if allow_remote_code and not is_loopback(address):
        log.warning("--allow-remote-code: anyone who can reach %s:%d can run Python on this "
                    "machine through the lab's code editor", address, port)
        print(f"WARNING: anyone who can reach {address}:{port} can run Python code on this "
              "machine through the code editor (--allow-remote-code).", file=sys.stderr)
    pn.extension("codeeditor", notifications=False)  # the code view is built on demand
    pn.serve({"/": lambda: create_lab(weights, code_policy=policy),
              "/embed": lambda: create_lab(weights, embed=True, code_policy=policy)},
             port=port, address=address,
             show=open_browser, title="Napkin GPT", websocket_origin=[f"{address}:{port}",
                                                                      f"localhost:{port}"],
             threaded=False, print_url=True)
