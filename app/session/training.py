"""The training part of a lab session: the trainer, the loss curves, milestones with a sample,
learning from zero, and a new model for the reader's own text.

A `LabSession` (session.py) holds one `Training` as `session.training`, and views read it
there (`session.training.history`, `@param.depends("session.training.history_version")`).
What lives here changes the weights by training; the session runs them on the prompt.

Training plays whatever view is shown, until the reader pauses it. In the Training view the
session's clock plays it (Play is Train there); in every other view its own `clock` does,
at the same speed, while the session's clock animates that view. While it plays, the
weights change every step but the views follow only when the page is ready for another
picture (`publish`): the worker keeps stepping while the page draws.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass

import param

from app.session.clock import TRAIN_PHASES, Clock  # noqa: F401 (TRAIN_PHASES: its old home)
from engine.train import ComputedStep, StepReport, Trainer
from engine.weights import Checkpoint

MAX_TEXT_CHARS = 2_000_000  # the largest text a reader may train on
VAL_EVERY = 25  # training steps between validation estimates
VAL_WINDOWS = 16
SAMPLE_TOKENS = 60  # characters sampled at each milestone
SAMPLE_TEMPERATURE = 0.8
RATE_WINDOW = 30  # steps the steps-a-minute figure is measured over
RATE_GAP = 3.0  # seconds without a step that start a new measurement (a pause)
FROM_ZERO_LR = 3e-3  # the shipped model's peak rate


def is_milestone(steps_done: int) -> bool:
    """0, then 25, 50, 100, 200, 400, ...: dense early, when the model changes fastest."""
    n = steps_done // VAL_EVERY
    return steps_done == 0 or (steps_done % VAL_EVERY == 0 and n & (n - 1) == 0)


@dataclass(frozen=True)
class Milestone:
    """What the model could do after `step` training steps."""

    step: int
    val_loss: float | None  # None without held-out text
    sample: str  # SAMPLE_TOKENS characters it wrote, from a newline, with a fixed seed


class Training(param.Parameterized):
    """Training one session's model, and the records of it.

    It is given the LabSession it belongs to, and reads from it what it trains (the model,
    its text and tokenizer, the engine in use, the seed) and the clock it plays on in the
    Training view. The session stays the one place models are installed and run on the
    prompt: a new model made here is installed with the session's `_install`, and after each
    step shown the prompt is run again with its `_run_model`.
    """

    learning_rate = param.Number(default=1e-3, bounds=(1e-5, 10.0), doc="AdamW's rate.")
    batch_size = param.Integer(default=8, bounds=(1, 64), doc="Windows per training step.")

    train_step = param.Parameter(precedence=-1, doc="The latest ComputedStep or StepReport "
                                                    "shown.")
    history_version = param.Integer(default=0, precedence=-1,
                                    doc="Bumped when the losses recorded are shown.")
    from_zero = param.Boolean(default=False, precedence=-1,
                              doc="Whether the model started from random weights on the "
                                  "shipped text.")
    milestones = param.List(default=[], item_type=Milestone, precedence=-1,
                            doc="Validation loss and a sample at steps 0, 25, 50, 100, ...")
    steps_per_minute = param.Number(default=None, allow_None=True, precedence=-1,
                                    doc="Training speed while playing, as measured here.")

    def __init__(self, session, shipped: Checkpoint, shipped_corpus: str | None, **params):
        """session: the LabSession that owns this; shipped: the weights the lab shipped with
        (and their training record), shipped_corpus: their training text, if any."""
        super().__init__(**params)
        self.session = session
        self.shipped, self.shipped_corpus = shipped, shipped_corpus
        # plays training outside the Training view, at the speed the page's clock is set to
        self.clock = Clock(on_tick=self.play_step, speed=session.clock.param.speed,
                           fastest=session.clock.param.fastest,
                           reduced_motion=session.clock.param.reduced_motion)
        for clock in (self.clock, session.clock):
            clock.param.watch(lambda _: self._show_when_paused(), "playing")
        self.zero_model = None  # the last model that learned from zero (kept after a reset)
        self.reset()

    def reset(self) -> None:
        """Forget the trainer and every record of training (a new model was installed)."""
        self.trainer: Trainer | None = None
        self.start_params: dict | None = None  # the weights before the first step
        self._pending: ComputedStep | None = None  # computed, not yet applied
        self._unshown: StepReport | None = None  # applied, not yet shown
        self.history: list[tuple[int, float]] = []  # (step, batch loss)
        self.val_history: list[tuple[int, float]] = []  # (steps done, validation loss)
        self._step_times: deque[float] = deque(maxlen=RATE_WINDOW)
        self._rate: float | None = None  # steps a minute, as last measured
        self.param.update(from_zero=False, milestones=[], steps_per_minute=None,
                          train_step=None, history_version=self.history_version + 1)

    def drop_trainer(self) -> None:
        """Forget the trainer and a step not yet applied, and keep the records: the engine
        changed, and the next step makes a trainer of the new engine."""
        self.trainer, self._pending = None, None

    @property
    def playing(self) -> bool:
        """Whether training plays: on its own clock, or on the session's in the Training
        view."""
        s = self.session
        return self.clock.playing or (s.mode == "train" and s.clock.playing)

    def pause(self) -> None:
        """Stop training, wherever it plays; the views show its last step."""
        self.clock.playing = False
        if self.session.mode == "train":
            self.session.clock.playing = False

    @property
    def can_train(self) -> bool:
        s = self.session
        return len(s.train_tokens) > s.config.block_size + 1

    @property
    def shipped_training(self) -> dict:
        """How the shipped model was trained (weights_tiny/config.json "training")."""
        return self.shipped.training

    @property
    def shipped_val_loss(self) -> float | None:
        """The shipped model's validation loss, from its training record."""
        return self.shipped_training.get("final_val_loss")

    def loss_baseline(self) -> float:
        """ln V: the loss of guessing uniformly, where training from zero starts."""
        return math.log(self.session.config.vocab_size)

    # ---- new models to train --------------------------------------------------------------

    def start_from_zero(self) -> None:
        """A model with random weights, the shape of the shipped one (on the engine in use),
        to train on the shipped text. Asked twice, it keeps the one already learning."""
        s = self.session
        if self.from_zero and self.history:
            s.tell(s.tr("This model is already learning from zero ({n:,} steps so far); "
                        "nothing was changed. To start over, reset to the shipped weights "
                        "first.", n=len(self.history)), "error")
            return
        if not self.shipped_corpus:
            s.tell(s.tr("There is no training text: run `napkin-gpt fetch-corpus` and "
                        "restart the lab."), "error")
            return
        shipped = self.shipped
        model = s.make_model(shipped.model.config, seed=s.seed, dtype=shipped.model.dtype)
        s.pause()
        s.corpus_name = "Shakespeare"
        s._install(model, shipped.tokenizer, self.shipped_corpus)
        self.zero_model = model
        self._record_milestone(0)
        self.param.update(from_zero=True, learning_rate=FROM_ZERO_LR,
                          history_version=self.history_version + 1)
        s.tell(s.tr("Random weights (seed {seed}): the model guesses about uniformly among "
                    "{V} characters. Press Train to watch it learn the shipped text (learning "
                    "rate {lr:g}; the Speed slider sets the steps a second).", seed=s.seed,
                    V=s.config.vocab_size, lr=FROM_ZERO_LR))
        s.weights_version += 1

    def train_on_text(self, text: str) -> None:
        """A fresh character-level model, the shape of the shipped one, to train on `text`."""
        s = self.session
        T = s.config.block_size
        if len(text) < 2 * T + 2:
            s.tell(s.tr("That text has {n} characters; training needs at least {least}. "
                        "Paste more.", n=len(text), least=2 * T + 2), "error")
            return
        if len(text) > MAX_TEXT_CHARS:
            s.tell(s.tr("That text has {n:,} characters; the lab trains on at most "
                        "{most:,}. Paste less.", n=len(text), most=MAX_TEXT_CHARS), "error")
            return
        tokenizer = s.engine.char_tokenizer.CharTokenizer.from_text(text)
        c = s.config
        config = s.engine.model.GPTConfig(tokenizer.vocab_size, T, c.n_layer, c.n_head, c.n_embd)
        model = s.make_model(config, seed=s.seed, dtype=s.model.dtype)
        s.pause()
        s.corpus_name = "your text"
        s._install(model, tokenizer, text)
        s.tell(s.tr("A new model with random weights will learn your {n:,} characters "
                    "({V} distinct). Press Play to train.", n=len(text),
                    V=tokenizer.vocab_size))
        s.weights_version += 1

    # ---- steps ------------------------------------------------------------------------------

    def _ensure_trainer(self) -> Trainer:
        if self.trainer is None:
            s = self.session
            train = s.engine.train
            config = train.TrainConfig(lr=self.learning_rate, schedule="constant",
                                       batch_size=self.batch_size, seed=s.seed)
            self.trainer = train.Trainer(s.model, s.train_tokens, config)
            # a new trainer on a model already trained here (the engine changed): it goes
            # on counting from the steps already taken, so the curves go on too
            self.trainer.step_count = len(self.history)
        return self.trainer

    @param.depends("learning_rate", watch=True)
    def _set_lr(self) -> None:
        if self.trainer is not None:
            self.trainer.set_lr(self.learning_rate)

    @param.depends("batch_size", watch=True)
    def _set_batch_size(self) -> None:
        if self.trainer is not None:
            self.trainer.set_batch_size(self.batch_size)

    def compute_step(self, show: bool = True) -> ComputedStep | None:
        """Forward and backward over the next batch (the weights do not change yet); `show`
        makes it the `train_step` the views draw (a whole step shows only its end)."""
        s = self.session
        if not self.can_train:
            s.tell(s.tr("There is no training text: paste your own below, or run "
                        "`napkin-gpt fetch-corpus` and restart the lab."), "error")
            self.pause()
            return None
        try:
            computed = self._ensure_trainer().compute()
        except s.engine.train.TrainingDiverged as e:
            self.pause()
            self._unshown = None  # its weights are gone: the last good ones are back
            s.tell(str(e), "error")
            with param.parameterized.batch_call_watchers(s):
                s.weights_version += 1
                s._run_model()
            return None
        self._pending = computed
        if show:
            self.train_step = computed
        return computed

    def apply_step(self, show: bool = True) -> StepReport | None:
        """The AdamW update for the computed step; with `show`, every view follows the new
        weights at once (else at the next `publish`)."""
        if self._pending is None:
            return None
        if self.trainer.step_count == 0:
            self._record_milestone(0)  # the weights before any training
            self.start_params = {n: p.copy() for n, p in self.session.model.params.items()}
        report = self.trainer.apply(self._pending)
        self._pending = None
        self.history.append((report.step, report.loss))
        self._time_step()
        if (report.step + 1) % VAL_EVERY == 0:
            self._record_milestone(report.step + 1)
        self._unshown = report
        if show:
            self.publish()
        return report

    def publish(self) -> None:
        """Show the steps applied since the last one shown: the latest step's report, the
        losses, the steps a minute, and the new weights run on the prompt (every view
        follows)."""
        report, self._unshown = self._unshown, None
        if report is None:
            return
        s = self.session
        with (param.parameterized.batch_call_watchers(self),
              param.parameterized.batch_call_watchers(s)):
            self.param.update(train_step=report, history_version=self.history_version + 1,
                              steps_per_minute=self._rate)
            s.tell("")
            s.weights_version += 1
            s._run_model()

    def train_once(self, show: bool = True) -> StepReport | None:
        """A whole step; a step already computed (the reader paused mid-step) is finished
        rather than thrown away."""
        if self._pending is None and self.compute_step(show=False) is None:
            return None
        return self.apply_step(show)

    def play_step(self) -> bool:
        """A tick of training playing: a step, shown at once if the page can draw it now;
        if not, the next tick shows it instead of stepping when the page has become ready
        by then. The weights change every step, the pictures as often as the page can draw
        them, each drawn while the next step runs. Returns False: the clock need not wait
        for the page after it."""
        page_ready = self.session.clock.page_ready
        if self._unshown is None or not page_ready():
            self.train_once(show=False)
            if not page_ready():
                return False
        self.publish()
        return False

    def _show_when_paused(self) -> None:
        if not self.playing:
            self.publish()

    # ---- records ----------------------------------------------------------------------------

    def held_out_windows(self, most: int) -> int:
        """How many windows of the held-out text (at most `most`, evenly spaced) a held-out
        loss averages; 0 when that text is shorter than one window."""
        s = self.session
        if len(s.val_tokens) <= s.config.block_size + 1:
            return 0
        return len(s.engine.data.evaluation_starts(s.val_tokens, s.config.block_size, most))

    def held_out_loss(self, model, most: int) -> float | None:
        """`model`'s mean loss over those windows, in one batch; None without them."""
        if not self.held_out_windows(most):
            return None
        return self.session.engine.train.evaluate(model, self.session.val_tokens, most, most)

    def _record_milestone(self, steps_done: int) -> None:
        """The validation loss after `steps_done` steps, and at milestones a sample too."""
        if any(step == steps_done for step, _ in self.val_history):
            return
        loss = self.held_out_loss(self.session.model, VAL_WINDOWS)
        if loss is not None:
            self.val_history.append((steps_done, loss))
        if is_milestone(steps_done):
            self.milestones = [*self.milestones, Milestone(steps_done, loss, self._sample())]

    def _sample(self) -> str:
        """SAMPLE_TOKENS characters from a newline (or the text's first token), seed 0."""
        s = self.session
        start = s.tokenizer.encode("\n")
        if getattr(s.tokenizer, "unknown_id", None) in start:
            start = [int(s.train_tokens[0])]
        sampling = s.engine.sampling
        ids = sampling.generate(s.model, start, SAMPLE_TOKENS,
                                sampling.SamplingSettings(SAMPLE_TEMPERATURE), seed=0)
        return s.tokenizer.decode(ids[len(start):])

    def _time_step(self) -> None:
        """Steps a minute over the last RATE_WINDOW steps taken while playing, without a
        pause (shown with the next step shown)."""
        now = time.perf_counter()
        times = self._step_times
        if not self.playing or (times and now - times[-1] > RATE_GAP):
            times.clear()
        times.append(now)
        if len(times) >= 5:
            self._rate = 60 * (len(times) - 1) / (times[-1] - times[0])
