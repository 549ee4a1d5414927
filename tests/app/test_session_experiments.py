"""The session's experiments (app/session/experiments.py): run on the session's model with the
engine in use, each once per state it depends on, never before it is asked for."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("panel", reason="the dashboard needs Panel (pip install -e '.[app]')")

from app.session.code_runner import shipped_sources
from app.session.experiments import Experiments
from engine.experiments import head_ablation


def test_nothing_runs_until_asked_and_each_result_is_kept_for_its_state(session, forward_calls):
    x = Experiments(session=session)
    assert forward_calls == []
    found = x.ablation()
    n = session.config.n_layer * session.config.n_head
    assert len(forward_calls) == 1 + n
    assert x.ablation() is found and len(forward_calls) == 1 + n  # kept
    expected = head_ablation(session.model, np.array(session.ids))
    np.testing.assert_allclose(found.kl, expected.kl)
    session.prompt = "KING RICHARD:\nNow is the winter"  # the session runs it once
    calls = len(forward_calls)
    assert x.ablation() is not found and len(forward_calls) == calls + 1 + n
    session.training.train_once()  # new weights: measured again
    calls = len(forward_calls)
    x.ablation()
    assert len(forward_calls) == calls + 1 + n


def test_the_cheap_answers_read_the_trace(session, forward_calls):
    x = Experiments(session=session)
    s = session
    key, weight = x.strongest_key()
    att = s.trace.blocks[s.layer].att[0, s.head, s.query_position]
    assert key == int(np.argmax(att)) and weight == pytest.approx(float(att.max()))
    assert x.top_probability(s.temperature)[1] == pytest.approx(float(s.next_probs.max()))
    assert x.uniform_loss() == pytest.approx(np.log(s.config.vocab_size))
    assert x.lens().final == int(np.argmax(s.trace.probs[0, -1]))
    assert forward_calls == []


def test_the_experiments_run_the_engine_in_use(session):
    x = Experiments(session=session)
    source = shipped_sources()["experiments.py"]
    assert "    return int(np.argmax(row))" in source
    session.run_code({"experiments.py": source.replace(
        "    return int(np.argmax(row))", "    return 0  # edited: always the first")})
    assert x.strongest_key()[0] == 0  # the edited answer, from the edited file
    session.reset_code()


def test_the_mask_experiment_is_kept_and_needs_some_text(session):
    from app.session.loader import load_session
    from tests.support.models import WEIGHTS_TINY

    x = Experiments(session=session)
    found = x.mask_experiment()
    assert found.unmasked_train < found.masked_train
    assert x.mask_experiment() is found
    assert Experiments(session=load_session(WEIGHTS_TINY, corpus="")).mask_experiment() is None
