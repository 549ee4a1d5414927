"""The lab's views. Each is a `View` (parts/view.py) that reads a LabSession and never runs
the model itself; each builds its figures and data sources once and then feeds them."""

from app.i18n import N_
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
    "tokens": (N_("Tokens"), TokensView, "generate"),
    "examples": (N_("Training examples"), ExamplesView, "examples"),
    "embedding": (N_("Embedding"), EmbeddingView, "generate"),
    "attention": (N_("Attention"), AttentionView, "generate"),
    "residual": (N_("Residual tracks"), ResidualView, "generate"),
    "next": (N_("Next token"), NextTokenView, "generate"),
    "training": (N_("Training"), TrainingView, "train"),
    "scale": (N_("Scale"), ScaleView, "generate"),
    "quantization": (N_("Quantization"), QuantizationView, "generate"),
    "code": (N_("Code"), CodeView, "generate"),
}
DEFAULT_VIEW = "attention"

__all__ = ["DEFAULT_VIEW", "VIEWS"]
