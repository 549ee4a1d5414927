"""A lab session from files: a weights folder and the training text."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from app.session.session import LabSession
from engine.bpe_tokenizer import BPETokenizer
from engine.corpus import CorpusMissing, load_corpus
from engine.weights import BPE_NAME, SHIPPED_WEIGHTS, load_weights

log = logging.getLogger(__name__)


def load_session(weights: Path = SHIPPED_WEIGHTS, corpus: str | None = None) -> LabSession:
    """A fresh LabSession on the weights folder `weights` (with its BPE merges, if any) and
    `corpus` as training text (default: the fetched corpus, or none if it is missing)."""
    checkpoint = load_weights(weights)
    if corpus is None:
        try:
            corpus = load_corpus()
        except CorpusMissing as e:
            log.warning("%s; the lab runs without training text", e)
            corpus = ""
    bpe_path = Path(weights) / BPE_NAME
    bpe = (BPETokenizer.from_dict(json.loads(bpe_path.read_text(encoding="utf-8")))
           if bpe_path.exists() else None)
    return LabSession(checkpoint, corpus=corpus, bpe=bpe)
