"""One reader's lab: the model, its trainer, the prompt, the trace, and the animation clock.

Views only read a session. The session runs the model once per change that needs it
(prompt, switched-off heads, new weights) and keeps the result in `trace`; cheaper
changes (temperature, top-k, top-p) only recompute what depends on them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import param

from app.i18n import DEFAULT_LANGUAGE, LANGUAGES, translation
from app.session.clock import TRAIN_PHASES, Clock, timeline
from app.session.code_runner import (
    CodeError,
    CodePolicy,
    Engine,
    describe_failure,
    load_engine,
    run_check,
    shipped_engine,
    trial_run,
)
from app.session.comparison import Comparison
from app.session.opened import OpenedModel
from app.session.training import Training
from engine.bpe_tokenizer import BPETokenizer
from engine.gradcheck import EngineCheck
from engine.model import GPT, GPTConfig
from engine.weights import Checkpoint

DEFAULT_PROMPT = "ROMEO:\nBut soft, what light"
MAX_PROMPT_CHARS = 4000  # longer prompts keep their end; the model sees 64 tokens anyway
MODES = ("generate", "examples", "train")


@dataclass(frozen=True)
class Sampled:
    """The token drawn last, for the next-token view's animation."""

    token: int
    prob: float
    piece: str


class LabSession(param.Parameterized):
    """The state behind every view. Everything a share link restores is a parameter.
    `training` (training.py) holds the trainer, the loss curves and learning from zero;
    `opened` (opened.py) opens a model file; `comparison` (comparison.py) runs a second
    model beside this one."""

    # ---- chosen by the reader ------------------------------------------------------------
    prompt = param.String(default=DEFAULT_PROMPT, doc="The text the model continues.")
    tokenizer_view = param.Selector(default="char", objects=["char", "bpe"],
                                    doc="Which tokenizer the tokens view shows.")
    layer = param.Integer(default=0, bounds=(0, 0), doc="Block shown in the attention view.")
    head = param.Integer(default=0, bounds=(0, 0), doc="Head shown in the attention view.")
    query = param.Integer(default=-1, bounds=(-1, None),
                          doc="Position whose attention is drawn; -1 is the last token.")
    heads_off = param.List(default=[], doc="(layer, head) pairs switched off.")
    temperature = param.Number(default=0.8, bounds=(0.0, 2.0), step=0.05,
                               doc="0 is greedy; higher flattens the distribution.")
    top_k = param.Integer(default=0, bounds=(0, None), doc="Keep the k likeliest; 0 is off.")
    top_p = param.Number(default=1.0, bounds=(0.01, 1.0), step=0.01,
                         doc="Keep the likeliest tokens whose mass reaches p; 1 is off.")
    seed = param.Integer(default=0, bounds=(0, 2**31 - 1), doc="Seed for sampling.")
    example_start = param.Integer(default=0, bounds=(0, None),
                                  doc="Where the examples view's window starts in the text.")
    mode = param.Selector(default="generate", objects=list(MODES),
                          doc="What the clock animates.")
    readable_only = param.Boolean(default=False, doc=(
        "Run layers.py's functions as written: no kernel of kernels.py stands in for them."))
    matmul = param.Callable(default=None, allow_None=True, precedence=-1, doc=(
        "A faster float32 matmul(a, b) = a @ b for the linear layers (app/site/simd.py)."))
    language = param.Selector(default=DEFAULT_LANGUAGE, objects=list(LANGUAGES),
                              doc="The language the lab speaks (app/i18n).")

    # ---- derived by the session (views read these) ----------------------------------------
    ids = param.List(default=[], precedence=-1, doc="The token ids the model sees.")
    prompt_notes = param.List(default=[], precedence=-1, doc="What happened to the prompt.")
    message = param.String(default="", precedence=-1, doc="The latest status or error.")
    message_kind = param.Selector(default="info", objects=["info", "error"], precedence=-1,
                                  doc="Whether `message` reports a failure.")
    trace = param.Parameter(precedence=-1, doc="The forward pass over `ids`.")
    baseline_probs = param.Parameter(precedence=-1,
                                     doc="(V,) next-token probabilities with every head on.")
    next_probs = param.Parameter(precedence=-1,
                                 doc="(V,) after temperature, top-k and top-p.")
    sampled = param.Parameter(precedence=-1, doc="The last Sampled token.")
    weights_version = param.Integer(default=0, precedence=-1, doc="Bumped when weights change.")
    model_file = param.String(default="", precedence=-1, doc=(
        "The file the model was opened from, trained since or not; '' for any other."))

    def __init__(self, checkpoint: Checkpoint, corpus: str | None = None,
                 bpe: BPETokenizer | None = None, **params):
        super().__init__(**params)
        self._shipped = copy.deepcopy(checkpoint)
        self._shipped_corpus = corpus
        self.bpe = bpe
        self.corpus_name = "Shakespeare" if corpus else ""
        self.engine: Engine = shipped_engine()  # the code the lab runs; the editor swaps it
        self.code_policy = CodePolicy()  # who may run edited code here (serve.py decides)
        self.clock = Clock(on_tick=self.advance)
        self.training = Training(self, self._shipped, corpus)
        self.param.watch(self._change_mode, "mode")
        self.opened = OpenedModel(self)
        self.comparison = Comparison(self)
        shipped = checkpoint.model
        model = self.make_model(shipped.config, params=copy.deepcopy(shipped.params))
        self._install(model, checkpoint.tokenizer, corpus)

    # ---- the model and its text ---------------------------------------------------------

    @property
    def config(self) -> GPTConfig:
        return self.model.config

    def _install(self, model: GPT, tokenizer, corpus: str | None, source: str = "") -> None:
        """Make `model` with `tokenizer` the session's model, `corpus` its training text;
        `source` is the file it was opened from, if any."""
        self.model, self.tokenizer, self.corpus = model, tokenizer, corpus or ""
        self.model_file = source
        tokens = np.array(tokenizer.encode(self.corpus), dtype=np.int64)
        if len(tokens) > 10 * model.config.block_size:
            self.train_tokens, self.val_tokens = self.engine.data.split_tokens(tokens, 0.1)
        else:
            self.train_tokens, self.val_tokens = tokens, tokens[:0]
        cfg = model.config
        with param.parameterized.batch_call_watchers(self):
            self.training.reset()
            bounds = {"layer": cfg.n_layer - 1, "head": cfg.n_head - 1, "top_k": cfg.vocab_size,
                      "example_start": max(0, len(tokens) - cfg.block_size - 1)}
            for name, high in bounds.items():  # a model of another shape may have fewer
                self.param[name].bounds = (0, high)
                setattr(self, name, min(getattr(self, name), high))
            self.heads_off = []
        self._set_stages()
        self._encode_prompt()

    def reset_weights(self) -> None:
        """Back to the shipped weights and corpus (the reader's training is dropped), run by
        whichever engine is in use."""
        shipped = copy.deepcopy(self._shipped)
        model = self.make_model(shipped.model.config, params=shipped.model.params)
        self.pause()
        self.corpus_name = "Shakespeare" if self._shipped_corpus else ""
        self._install(model, shipped.tokenizer, self._shipped_corpus)
        self.tell(self.tr("Back to the shipped weights."))
        self.weights_version += 1

    # ---- prompt -> ids -> trace -> probabilities ---------------------------------------------

    @property
    def tr(self):
        """The session's language (app/i18n): tr(message, **values) is the message in it."""
        return translation(self.language)

    def _read_prompt(self) -> tuple[list[int], list[str]]:
        """The ids the model sees of the prompt, and what happened to it on the way."""
        notes, tr, text = [], self.tr, self.prompt
        if len(text) > MAX_PROMPT_CHARS:
            notes.append(tr("The prompt is {n:,} characters; only its last {kept:,} are kept.",
                            n=len(text), kept=MAX_PROMPT_CHARS))
            text = text[-MAX_PROMPT_CHARS:]
        if not text:
            notes.append(tr("The prompt is empty, so the model starts from a newline "
                            "(as nanoGPT's sample.py does). Type something to see it continue."))
            text = "\n"
        unknown = getattr(self.tokenizer, "unknown_chars", lambda _: [])(text)
        if unknown:
            chars = "".join(dict.fromkeys(ch for _, ch in unknown))
            notes.append(tr("{n} character(s) are not in the model's vocabulary and became "
                            "\ufffd: {chars}.", n=len(unknown), chars=repr(chars)))
        ids = self.tokenizer.encode(text)
        if len(ids) > (T := self.config.block_size):
            notes.append(tr("The prompt is {n} tokens; the model sees only the last {T} "
                            "(its context window).", n=len(ids), T=T))
            ids = ids[-T:]
        return ids, notes

    @param.depends("language", watch=True)
    def _retell_prompt(self) -> None:
        self.prompt_notes = self._read_prompt()[1]  # in the new language; the model waits

    @param.depends("prompt", watch=True)
    def _encode_prompt(self) -> None:
        ids, notes = self._read_prompt()
        with param.parameterized.batch_call_watchers(self):
            self.prompt_notes = notes
            self.ids = ids
            self.query = min(self.query, len(ids) - 1)
        self._run_model()

    @param.depends("heads_off", watch=True)
    def _run_model(self) -> None:
        """The one place the model runs on the prompt."""
        mask = self.head_mask()
        _, trace = self.model.forward(np.array(self.ids), head_mask=mask)
        baseline = None
        if mask is not None:
            baseline = self.model.forward(np.array(self.ids))[1].probs[0, -1]
        with param.parameterized.batch_call_watchers(self):
            self.trace = trace
            self.baseline_probs = baseline
            self._update_probs()

    def head_mask(self) -> np.ndarray | None:
        """(n_layer, n_head) ones with zeros for the heads switched off, or None."""
        if not self.heads_off:
            return None
        mask = np.ones((self.config.n_layer, self.config.n_head))
        for layer, head in self.heads_off:
            mask[layer, head] = 0.0
        return mask

    def toggle_head(self, layer: int, head: int) -> None:
        pair = (layer, head)
        self.heads_off = ([p for p in self.heads_off if tuple(p) != pair]
                          if pair in map(tuple, self.heads_off) else [*self.heads_off, pair])

    @property
    def sampling(self):
        """The sampling settings, as the engine in use defines them."""
        return self.engine.sampling.SamplingSettings(self.temperature, self.top_k or None,
                                                     self.top_p)

    @param.depends("temperature", "top_k", "top_p", watch=True)
    def _update_probs(self) -> None:
        self.next_probs = self.engine.sampling.next_token_probs(self.trace.logits[0, -1],
                                                                self.sampling)

    # ---- generation -------------------------------------------------------------------------

    def generate_token(self) -> Sampled:
        """Draw the next token (seeded by the seed and the prompt's length) and append it."""
        rng = np.random.default_rng((self.seed, len(self.prompt)))
        token = self.engine.sampling.sample_token(self.next_probs, rng)
        sampled = Sampled(token, float(self.next_probs[token]), self.tokenizer.decode([token]))
        self.sampled = sampled
        self.prompt = self.prompt + sampled.piece
        return sampled

    # ---- the engine's code ---------------------------------------------------------------------

    def make_model(self, config: GPTConfig, engine: Engine | None = None, **options) -> GPT:
        """A GPT of `engine` (default: the one in use) shaped by `config`, running the layers
        `layers_for` chooses; `options` go to GPT (seed, dtype, params). Every model the
        session runs is made here."""
        engine = engine or self.engine
        m = engine.model
        return m.GPT(m.GPTConfig(**vars(config)), layers=self.layers_for(engine), **options)

    def layers_for(self, engine: Engine):
        """The layer functions the session's models of `engine` run: with `readable_only`,
        layers.py's as written; else a kernel standing in for every pair of functions as
        shipped (model.py's STAND_INS), the linear ones on `matmul` when there is one."""
        if self.readable_only:
            return engine.kernels.readable(engine.layers)
        if self.matmul is not None:
            return engine.kernels.stand_ins(engine.layers, matmul=self.matmul)
        return engine.model.STAND_INS

    @param.depends("readable_only", "matmul", watch=True)
    def _choose_layers(self) -> None:
        """The same model and weights, now running the layers `layers_for` chooses."""
        self.model.layers = self.layers_for(self.engine)
        with param.parameterized.batch_call_watchers(self):
            self.weights_version += 1  # what the weights compute changed (a little)
            self._run_model()

    def run_code(self, edits: dict[str, str]) -> EngineCheck:
        """Run the engine built from `edits` (file name -> edited source) from now on, with
        the same weights, and check it: its gradcheck.EngineCheck.

        Raises CodeError (the message, and the traceback in `details`) if this lab may not
        run code, or the code fails to load or to run the prompt; the lab then keeps the
        engine it had. Under `napkin-gpt serve` the code first runs in a child process with a
        time limit, so that code that never ends cannot hang the server.
        """
        policy = self.code_policy
        if not policy.allowed:
            raise CodeError(policy.reason)
        check = None
        if policy.trial_timeout is not None:  # the forward and the check, in a child
            check = trial_run(edits, vars(self.config), self.model.params, list(self.ids),
                              policy.trial_timeout, readable_only=self.readable_only)
        engine = load_engine(edits)
        self.use_engine(engine)
        self.tell(self.tr("The lab now runs your edited {files}.", files=", ".join(engine.edited))
                  if engine.edited else self.tr("The lab runs the shipped engine."))
        return check or run_check(engine)

    def reset_code(self) -> None:
        """Run the shipped engine again, if an edited one runs (CodeError if the shipped
        code cannot run the weights the reader's code left, say NaN ones)."""
        if self.engine.edited:
            self.use_engine(shipped_engine())
            self.tell(self.tr("Back to the shipped engine."))

    def use_engine(self, engine: Engine) -> None:
        """Run on `engine` from now on, with the same weights; every view follows. It first
        runs the prompt on a copy of the weights: CodeError if that raises or gives non-finite
        logits (the lab keeps the engine it had)."""
        params = {n: p.copy() for n, p in self.model.params.items()}
        try:
            model = self.make_model(self.config, engine, params=params)
            logits, _ = model.forward(np.array(self.ids), head_mask=self.head_mask())
            tokenizer = engine.tokenizer.tokenizer_from_dict(self.tokenizer.to_dict())
            bpe = self.bpe and engine.bpe_tokenizer.BPETokenizer.from_dict(self.bpe.to_dict())
        except Exception as e:
            raise describe_failure(e) from None
        if np.shape(logits) != (len(self.ids), self.config.vocab_size):
            raise describe_failure(ValueError(
                f"forward gave logits of shape {np.shape(logits)}, expected "
                f"{(len(self.ids), self.config.vocab_size)}"))
        if not np.all(np.isfinite(logits)):
            raise describe_failure(ValueError("forward gave NaN or infinite logits"))
        self.pause()
        self.engine, self.model, self.tokenizer, self.bpe = engine, model, tokenizer, bpe
        self.training.drop_trainer()
        with param.parameterized.batch_call_watchers(self):
            self.weights_version += 1
            self._encode_prompt()  # the prompt, through the engine's tokenizer, then the model

    # ---- the clock's timeline -----------------------------------------------------------------

    def pause(self) -> None:
        """Pause whatever plays: the view's animation and training."""
        self.clock.playing = False
        self.training.pause()

    def _change_mode(self, event) -> None:
        """The shown view's timeline on the clock, paused. Training plays on whatever view
        is shown: in the Training view on this clock (Play is Train there), in the others
        on its own, while this one animates the view."""
        training = self.training
        trained_here = event.old == "train" and self.clock.playing
        self._set_stages()
        if self.mode == "train" and training.clock.playing:
            training.clock.playing = False
            self.clock.playing = True
        elif trained_here:
            training.clock.playing = True

    def _set_stages(self) -> None:
        stages = timeline(self.mode, self.config.n_layer, self.config.block_size)
        self.clock.playing = False
        self.clock.stages = stages
        self.clock.frame = len(stages) - 1 if self.mode == "examples" else 0

    def advance(self) -> bool | None:
        """One tick. Generate: the next stage, and after the last one a new token.
        Examples: the window slides one token. Train: a whole step while playing (shown
        when the page can draw it: the clock need not wait, False), one phase (batch,
        forward, loss, backward, update) at a time when stepping."""
        clock = self.clock
        if self.mode == "train" and clock.playing:
            clock.frame = len(TRAIN_PHASES) - 1
            return self.training.play_step()
        if self.mode == "generate":
            if clock.frame == len(clock.stages) - 1:
                self.generate_token()
                clock.frame = 0
            else:
                clock.frame += 1
                if clock.stage.startswith("block "):
                    self.layer = int(clock.stage.split()[1])
        elif self.mode == "examples":
            self.example_start = (self.example_start + 1) % (self.param.example_start.bounds[1]
                                                             + 1)
        elif clock.stage == "update" or self.training.train_step is None:
            if self.training.compute_step() is not None:
                clock.frame = 0
        else:
            clock.frame += 1
            if clock.stage == "update":
                self.training.apply_step()
        return None  # a stage of the animation: the clock waits until the page has drawn it

    def tell(self, text: str, kind: str = "info") -> None:
        """Show the reader `text` (an empty one clears it); kind "error" for failures."""
        self.param.update(message=text, message_kind=kind)

    # ---- helpers the views share ---------------------------------------------------------------

    def pieces(self, ids) -> list[str]:
        return [self.tokenizer.piece(int(i)) for i in ids]

    def choose_position(self, position: int) -> None:
        """Focus the views on token `position`; the last token is kept as -1, so that the
        choice follows the prompt as it grows."""
        self.query = -1 if position >= len(self.ids) - 1 else position

    @property
    def query_position(self) -> int:
        return self.query if self.query >= 0 else len(self.ids) - 1
