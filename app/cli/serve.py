"""`napkin-gpt serve`: the lab on this machine, with Panel's server.

Every browser tab gets its own session (model, trainer, clock). Panel and Bokeh serve
their JavaScript from the installed packages, so the page needs nothing but this server.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from engine.ceiling import MAX_FILE_BYTES
from engine.weights import SHIPPED_WEIGHTS, load_weights

log = logging.getLogger(__name__)


def serve(port: int = 5006, address: str = "127.0.0.1", open_browser: bool = True,
          weights: Path = SHIPPED_WEIGHTS, allow_remote_code: bool = False) -> None:
    """Run the lab until interrupted."""
    import panel as pn

    from app.lab.page import create_lab
    from app.session.code_runner import CodePolicy, is_loopback

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
             threaded=False, print_url=True,
             # a model file travels to Python as base64 text: room for the largest one
             websocket_max_message_size=2 * MAX_FILE_BYTES)
