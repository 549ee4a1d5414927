"""The lab's views. Each is a `View` (parts/view.py) that reads a LabSession and never runs
the model itself; each builds its figures and data sources once and then feeds them."""

from app.views.attention import AttentionView
from app.views.code import CodeView
from app.views.embedding import EmbeddingView
from app.views.examples import ExamplesView
from app.views.next_token import NextTokenView
from app.views.quantization import QuantizationView
from app.views.residual import ResidualView
from app.views.scale import ScaleView
from app.views.tokens import TokensView
from app.views.training import TrainingView

VIEWS = {  # key (as in share links) -> (title, view class, what the clock animates there)
    "tokens": ("Tokens", TokensView, "generate"),
    "examples": ("Training examples", ExamplesView, "examples"),
    "embedding": ("Embedding", EmbeddingView, "generate"),
    "attention": ("Attention", AttentionView, "generate"),
    "residual": ("Residual tracks", ResidualView, "generate"),
    "next": ("Next token", NextTokenView, "generate"),
    "training": ("Training", TrainingView, "train"),
    "scale": ("Scale", ScaleView, "generate"),
    "quantization": ("Quantization", QuantizationView, "generate"),
    "code": ("Code", CodeView, "generate"),
}
DEFAULT_VIEW = "attention"

__all__ = ["DEFAULT_VIEW", "VIEWS"]
