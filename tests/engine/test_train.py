"""The trainer and the `napkin-gpt train` command."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.cli.train import main
from engine import GPT, GPTConfig
from engine.char_tokenizer import CharTokenizer
from engine.data import BatchSampler, evaluation_starts, split_tokens, window
from engine.train import TrainConfig, Trainer, TrainingDiverged, evaluate
from engine.weights import load_weights

TEXT = ("First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
        "First Citizen:\nYou are all resolved rather to die than to famish?\n") * 8


@pytest.fixture
def setup():
    tok = CharTokenizer.from_text(TEXT)
    tokens = np.array(tok.encode(TEXT))
    model = GPT(GPTConfig(tok.vocab_size, 16, 1, 2, 16), seed=0)
    return model, tokens


def test_sliding_window_pairs_each_context_with_the_next_token():
    tokens = np.array([18, 47, 56, 57, 58, 1, 15, 47])
    x, y = window(tokens, 2, 4)
    assert x.tolist() == [56, 57, 58, 1] and y.tolist() == [57, 58, 1, 15]


def test_batches_report_the_windows_they_took_and_are_seeded():
    tokens = np.arange(100)
    a, b = BatchSampler(tokens, 8, 4, seed=5), BatchSampler(tokens, 8, 4, seed=5)
    batch = next(a)
    np.testing.assert_array_equal(batch.starts, next(b).starts)
    for row, start in enumerate(batch.starts):
        np.testing.assert_array_equal(batch.x[row], tokens[start:start + 8])
        np.testing.assert_array_equal(batch.y[row], tokens[start + 1:start + 9])
    assert (batch.starts + 8 < 100).all()


def test_evaluation_windows_are_fixed_and_cover_the_stream():
    starts = evaluation_starts(np.arange(1000), 16, 10)
    assert starts[0] == 0 and starts[-1] == 1000 - 16 - 1 and len(starts) == 10


def test_training_lowers_the_loss_and_reports_each_step(setup):
    model, tokens = setup
    train, val = split_tokens(tokens)
    before = evaluate(model, val, 64)
    trainer = Trainer(model, train, TrainConfig(steps=150, batch_size=8, lr=1e-2,
                                                warmup_steps=10))
    reports = [trainer.step() for _ in range(150)]
    assert [r.step for r in reports] == list(range(150))
    assert evaluate(model, val, 64) < before - 1.0
    last = reports[-1]
    assert last.batch.x.shape == (8, 16) and last.trace.logits.shape == (8, 16, model.config
                                                                         .vocab_size)
    assert set(last.grads) == set(last.updates) == set(model.params)
    assert last.lr == pytest.approx(trainer.learning_rate(149))


def test_a_diverging_run_stops_says_so_and_keeps_the_last_good_parameters(setup):
    model, tokens = setup
    trainer = Trainer(model, tokens, TrainConfig(lr=50.0, schedule="constant", batch_size=8))
    seen = []  # the parameters each step started from
    with pytest.raises(TrainingDiverged, match=r"diverged at step .*learning rate 50") as info:
        for _ in range(50):
            seen.append({n: p.copy() for n, p in model.params.items()})
            trainer.step()
    assert "lower the learning rate" in str(info.value)
    # the failed step found its starting parameters bad: back to those of the step before,
    # the last whose loss was measured and sane
    assert len(seen) >= 2
    for name, p in model.params.items():
        np.testing.assert_array_equal(p, seen[-2][name])
    assert all(np.isfinite(p).all() for p in model.params.values())
    x = np.array(tokens[:16])[None]
    _, trace = model.forward(x, np.array(tokens[1:17])[None])
    assert trace.loss < 2 * math.log(model.config.vocab_size)
    trainer.set_lr(1e-3)  # the lab stays usable: lower the rate and go on
    assert math.isfinite(trainer.step().loss)


@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -1e-3, 0.0])
def test_nan_infinite_or_non_positive_learning_rates_are_refused(setup, lr):
    model, tokens = setup
    with pytest.raises(ValueError, match="learning rate must be a finite number > 0"):
        TrainConfig(lr=lr)
    trainer = Trainer(model, tokens, TrainConfig())
    with pytest.raises(ValueError, match="learning rate"):
        trainer.set_lr(lr)


def test_train_command_writes_loadable_weights_with_its_record(tmp_path, capsys):
    text = tmp_path / "corpus.txt"
    text.write_text(TEXT)
    out = tmp_path / "w"
    code = main(["--text", str(text), "--out", str(out), "--n-layer", "1", "--n-head", "2",
                 "--n-embd", "16", "--block-size", "16", "--steps", "40", "--batch-size", "8",
                 "--eval-interval", "20", "--eval-windows", "32", "--warmup-steps", "5"])
    assert code == 0
    ck = load_weights(out)
    record = ck.training
    assert record["steps_done"] == 40 and record["status"] == "completed"
    assert record["final_val_loss"] < record["unigram_val_loss"] + 1.0
    assert "val loss" in capsys.readouterr().out
    assert isinstance(record["sample"]["text"], str)
