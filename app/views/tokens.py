"""Tokens: the prompt as the model reads it, one coloured chip per token with its id."""

from __future__ import annotations

import panel as pn
import param

from app.i18n import N_
from app.views.parts.markup import (
    chips,
    esc,
    html_pane,
    notes,
    picture,
    set_html,
    visible,
)
from app.views.parts.view import View

EXPLAIN = N_(
    "A GPT never sees letters, only integers. The tokenizer cuts the prompt into tokens and "
    "gives each an id; our model's tokenizer has one token per character.")
EXPLAIN_MORE = N_(
    "Switch to BPE to see how GPT-2-style byte-pair encoding would merge frequent pairs into "
    "longer tokens, step by step.")
VOCABULARY = N_(
    "Above, token {position}, {piece}, as the model reads it: a one-hot row of {V} numbers, 0 "
    "everywhere but a 1 at place {id}. Below it, the vocabulary: every token the model knows, "
    "with its id (the prompt's are lit).")


class TokensView(View):

    def __init__(self, **params):
        super().__init__(**params)
        s = self.session
        kind = self._kind = pn.widgets.RadioButtonGroup.from_param(
            s.param.tokenizer_view, options=self._kinds(), color="light", label="")
        self._chips = html_pane()
        self._steps = html_pane()
        self._vocabulary = html_pane()
        self._layout = self._arrange(intro=[self.explain(EXPLAIN, EXPLAIN_MORE)],
                                     chips=[self._chips, kind], vocabulary=[self._vocabulary],
                                     bpe=[self._steps])
        self._update()
        self._show_vocabulary()

    def _kinds(self) -> dict[str, str]:
        tr = self.session.tr
        return {tr("Characters (the model's)"): "char", tr("BPE (GPT-2 style)"): "bpe"}

    @param.depends("session.language", watch=True)
    def _translate(self) -> None:
        self._kind.options = self._kinds()

    @param.depends("session.ids", "session.prompt_notes", "session.tokenizer_view",
                   "session.language", watch=True)
    def _update(self) -> None:
        s, tr = self.session, self.session.tr
        if s.tokenizer_view == "char" or s.bpe is None:
            ids = s.ids
            unknown_id = getattr(s.tokenizer, "unknown_id", None)
            classes = ["unknown" if i == unknown_id else "" for i in ids]
            summary = "<p>" + esc(tr("{n} tokens, vocabulary of {V}. Hover a chip for its id.",
                                     n=len(ids), V=s.config.vocab_size)) + "</p>"
            set_html(self._chips, notes(s.prompt_notes)
                     + picture(chips(s.pieces(ids), ids, classes)) + summary)
            set_html(self._steps, "" if s.bpe is not None else
                     notes([tr("No BPE tokenizer was shipped with these weights.")]))
            return
        text = s.tokenizer.decode(s.ids)
        ids, steps = s.bpe.encode_with_steps(text)
        start = list(text.encode("utf-8"))
        set_html(self._chips,
                 "<p>" + esc(tr("{n_bytes} bytes became {n} tokens after {merges} merges "
                                "(vocabulary of {V}: 256 bytes and the merges learned on the "
                                "corpus).", n_bytes=len(text.encode("utf-8")), n=len(ids),
                                merges=len(steps), V=256 + len(s.bpe.merges))) + "</p>"
                 + picture(chips([s.bpe.piece(i) for i in ids], ids)))
        parts = ['<div class="steps"><div class="step"><div class="step-title">'
                 + esc(tr("start: one token per byte")) + "</div>"
                 + chips([s.bpe.piece(i) for i in start], start)
                 + "</div>"]
        for n, step in enumerate(steps, 1):
            a, b = step.pair
            title = esc(tr.ngettext(
                "merge {i}: {a} + {b} → {piece} (id {id}), {n} place",
                "merge {i}: {a} + {b} → {piece} (id {id}), {n} places", step.count,
                i=n, a=visible(s.bpe.piece(a)), b=visible(s.bpe.piece(b)),
                piece=visible(step.piece), id=step.new_id))
            marks = ["merged" if i == step.new_id else "" for i in step.ids]
            parts.append(f'<div class="step"><div class="step-title">{title}</div>'
                         + chips([s.bpe.piece(i) for i in step.ids], step.ids, marks)
                         + "</div>")
        set_html(self._steps, "".join(parts) + "</div>")

    @param.depends("session.ids", "session.query", "session.language", watch=True)
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
        said = esc(s.tr(VOCABULARY, position=q, piece=repr(visible(s.pieces([chosen])[0])),
                        V=V, id=chosen))
        set_html(self._vocabulary,
                 picture(f'<div class="onehot" role="img" aria-label="one-hot row: 1 at place '
                         f'{chosen}, 0 at the other {V - 1}">{row}</div>'
                         f'<div class="vocab">{cells}</div>') + f"<p class='explain'>{said}</p>")

    def __panel__(self):
        return self._layout
