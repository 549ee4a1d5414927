"""The guided tour: chapters that follow the reader's prompt from text to the next token and
through training, each a view's section brought forward, narrated with the live model's
numbers, and most with a question the reader answers before the model does."""

from app.tour.beyond import BEYOND
from app.tour.chapter import Chapter, Checkpoint
from app.tour.flow import FLOW

CHAPTERS: tuple[Chapter, ...] = (*FLOW, *BEYOND)

__all__ = ["CHAPTERS", "Chapter", "Checkpoint"]
