"""`napkin-gpt export`: a weights folder as a GGUF file that llama.cpp runs.

    napkin-gpt export --format gguf --type q8_0 --out napkin-q8_0.gguf
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.session.gguf_io import write_gguf
from engine.gguf_file import GGUF_TYPES, GGUFError
from engine.weights import SHIPPED_WEIGHTS, WeightsError, load_weights

FORMATS = ("gguf",)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="write the model as a GGUF file for llama.cpp")
    p.add_argument("--format", choices=FORMATS, default="gguf", help="file format (gguf)")
    p.add_argument("--type", choices=GGUF_TYPES, default="f32",
                   help="how the matrices and token embedding are stored (default f32)")
    p.add_argument("--weights", default=str(SHIPPED_WEIGHTS), help="the weights folder")
    p.add_argument("--out", required=True, help="the file to write")
    p.set_defaults(run=export)


def export(args: argparse.Namespace) -> int:
    """Load the weights, write the GGUF, say how to run it."""
    try:
        checkpoint = load_weights(args.weights)
        description = f"napkin-gpt {args.type}, from the weights {Path(args.weights).name}"
        path = write_gguf(args.out, checkpoint.model, checkpoint.tokenizer, args.type,
                          description)
    except (WeightsError, GGUFError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    context = checkpoint.model.config.block_size
    print(f"wrote {path} ({path.stat().st_size:,} bytes, {args.type})")
    print(f"run it with llama.cpp, within its {context}-token context, for example:\n"
          f"  llama-completion -m {path} -p 'ROMEO:' -n 40 -c {context} --temp 0")
    return 0
