"""Tokens: the prompt as the model reads it, one coloured chip per token with its id."""

from __future__ import annotations

import panel as pn
import param

from app.views.parts.markup import (
    chips,
    esc,
    explain,
    html_pane,
    notes,
    picture,
    set_html,
    visible,
)
from app.views.parts.view import View

EXPLAIN = (
    "A GPT never sees letters, only integers. The tokenizer cuts the prompt into tokens and "
    "gives each an id; our model's tokenizer has one token per character.")
EXPLAIN_MORE = (
    "Switch to BPE to see how GPT-2-style byte-pair encoding would merge frequent pairs into "
    "longer tokens, step by step.")
VOCABULARY = (
    "Above, token {position}, {piece}, as the model reads it: a one-hot row of {V} numbers, 0 "
    "everywhere but a 1 at place {id}. Below it, the vocabulary: every token the model knows, "
    "with its id (the prompt's are lit).")


class TokensView(View):

    def __init__(self, **params):
        super().__init__(**params)
        s = self.session
        kind = pn.widgets.RadioButtonGroup.from_param(
            s.param.tokenizer_view, options={"Characters (the model's)": "char",
                                             "BPE (GPT-2 style)": "bpe"},
            color="light", label="")
        self._chips = html_pane()
        self._steps = html_pane()
        self._vocabulary = html_pane()
        self._layout = self._arrange(intro=[explain(EXPLAIN, EXPLAIN_MORE)],
                                     chips=[self._chips, kind], vocabulary=[self._vocabulary],
                                     bpe=[self._steps])
        self._update()
        self._show_vocabulary()

    @param.depends("session.ids", "session.prompt_notes", "session.tokenizer_view", watch=True)
    def _update(self) -> None:
        s = self.session
        if s.tokenizer_view == "char" or s.bpe is None:
            ids = s.ids
            unknown_id = getattr(s.tokenizer, "unknown_id", None)
            classes = ["unknown" if i == unknown_id else "" for i in ids]
            summary = (f"<p>{len(ids)} tokens, vocabulary of {s.config.vocab_size}. "
                       "Hover a chip for its id.</p>")
            set_html(self._chips, notes(s.prompt_notes)
                     + picture(chips(s.pieces(ids), ids, classes)) + summary)
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
                 + picture(chips([s.bpe.piece(i) for i in ids], ids)))
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

    @param.depends("session.ids", "session.query", watch=True)
    def _show_vocabulary(self) -> None:
        """Every token of the vocabulary, the prompt's lit, and the chosen token's one-hot row."""
        s = self.session
        V, q = s.config.vocab_size, s.query_position
        chosen = s.ids[q]
        used = set(s.ids)
        cells = "".join(
            f'<span class="vocab-cell{" used" if i in used else ""}'
            f'{" chosen" if i == chosen else ""}" title="id {i}">'
            f'<span class="piece">{esc(visible(p))}</span><span class="id">{i}</span></span>'
            for i, p in enumerate(s.pieces(range(V))))
        row = "".join(f'<span class="hot" title="place {i}: 1">1</span>' if i == chosen else
                      f'<span class="cold" title="place {i}: 0"></span>' for i in range(V))
        said = VOCABULARY.format(position=q, piece=esc(repr(visible(s.pieces([chosen])[0]))),
                                 V=V, id=chosen)
        set_html(self._vocabulary,
                 picture(f'<div class="onehot" role="img" aria-label="one-hot row: 1 at place '
                         f'{chosen}, 0 at the other {V - 1}">{row}</div>'
                         f'<div class="vocab">{cells}</div>') + f"<p class='explain'>{said}</p>")

    def __panel__(self):
        return self._layout
