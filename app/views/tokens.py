"""Tokens: the prompt as the model reads it, one coloured chip per token with its id."""

from __future__ import annotations

import panel as pn
import param

from app.views.parts.markup import chips, esc, explain, html_pane, notes, set_html, visible
from app.views.parts.view import View

EXPLAIN = (
    "A GPT never sees letters, only integers. The tokenizer cuts the prompt into tokens and "
    "gives each an id; our model's tokenizer has one token per character. Switch to BPE to see "
    "how GPT-2-style byte-pair encoding would merge frequent pairs into longer tokens, step "
    "by step.")


class TokensView(View):

    def __init__(self, **params):
        super().__init__(**params)
        s = self.session
        kind = pn.widgets.RadioButtonGroup.from_param(
            s.param.tokenizer_view, options={"Characters (the model's)": "char",
                                             "Byte-pair encoding (GPT-2 style)": "bpe"},
            color="light", label="")
        self._chips = html_pane()
        self._steps = html_pane()
        self._layout = pn.Column(explain(EXPLAIN), kind, self._chips, self._steps,
                                 sizing_mode="stretch_width")
        self._update()

    @param.depends("session.ids", "session.prompt_notes", "session.tokenizer_view", watch=True)
    def _update(self) -> None:
        s = self.session
        if s.tokenizer_view == "char" or s.bpe is None:
            ids = s.ids
            unknown_id = getattr(s.tokenizer, "unknown_id", None)
            classes = ["unknown" if i == unknown_id else "" for i in ids]
            summary = (f"<p>{len(ids)} tokens, vocabulary of {s.config.vocab_size}. "
                       "Hover a chip for its id.</p>")
            set_html(self._chips, notes(s.prompt_notes) + summary
                     + chips(s.pieces(ids), ids, classes))
            set_html(self._steps, "" if s.bpe is not None else
                     notes(["No BPE tokenizer was shipped with these weights."]))
            return
        text = s.tokenizer.decode(s.ids)
        ids, steps = s.bpe.encode_with_steps(text)
        start = list(text.encode("utf-8"))
        set_html(self._chips,
                 f"<p>{len(text.encode('utf-8'))} bytes became {len(ids)} tokens after "
                 f"{len(steps)} merges (vocabulary of {256 + len(s.bpe.merges)}: 256 bytes "
                 "and the merges learned on the corpus).</p>"
                 + chips([s.bpe.piece(i) for i in ids], ids))
        parts = ['<div class="steps"><div class="step"><div class="step-title">start: '
                 'one token per byte</div>' + chips([s.bpe.piece(i) for i in start], start)
                 + "</div>"]
        for n, step in enumerate(steps, 1):
            a, b = step.pair
            title = (f"merge {n}: {esc(visible(s.bpe.piece(a)))} + {esc(visible(s.bpe.piece(b)))}"
                     f" → {esc(visible(step.piece))} (id {step.new_id}), "
                     f"{step.count} place{'s' if step.count > 1 else ''}")
            marks = ["merged" if i == step.new_id else "" for i in step.ids]
            parts.append(f'<div class="step"><div class="step-title">{title}</div>'
                         + chips([s.bpe.piece(i) for i in step.ids], step.ids, marks)
                         + "</div>")
        set_html(self._steps, "".join(parts) + "</div>")

    def __panel__(self):
        return self._layout
