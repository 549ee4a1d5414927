"""The tour's last chapters, beyond one forward pass: training, scale, making the model small
and taking it home, and changing its code. Each chapter's facts are read from the live
session."""

from __future__ import annotations

import math

from app.i18n import N_
from app.session.code_runner import editable, shipped_sources
from app.session.experiments import Experiments
from app.tour.chapter import Chapter, Checkpoint, Facts, Unavailable, quoted
from app.views.scale import human_bytes

# ---- 10. one training step -------------------------------------------------------------------

NOT_YET_APPLIED = N_("; AdamW has not moved them yet (press Step until the update).")
APPLIED = N_(", and AdamW moved each a little against it, at learning rate {lr:g}.")
YOUR_LOSS = N_(" Your model's last batch loss, {loss:.3f}, shows how much better it does.")


def step_facts(x: Experiments) -> Facts:
    s, training = x.session, x.session.training
    found = dict(B=training.batch_size, T=s.config.block_size, n_params=s.config.n_params,
                 lr=training.learning_rate, V=s.config.vocab_size)
    report = training.train_step
    if report is None:
        return found | dict(case="before")
    B, T = report.batch.x.shape
    applied = getattr(report, "updates", None) is not None
    return found | dict(case="after", step=report.step, B=B, T=T, BT=B * T, loss=report.loss,
                        p_true=math.exp(-report.loss), norm=report.grad_norm,
                        update=s.tr(APPLIED, lr=report.lr) if applied else s.tr(NOT_YET_APPLIED))


def uniform_values(x: Experiments) -> list[float]:
    V = x.session.config.vocab_size
    return [0.0, 1.0, round(math.log(V), 2), float(V)]


def uniform_options(x: Experiments) -> list[str]:
    """The answers as the reader's language writes them (4,34 in Spanish)."""
    return [x.session.tr.number(v, "g") for v in uniform_values(x)]


def uniform_check(x: Experiments, pick: int) -> tuple[int, Facts]:
    s = x.session
    loss, V = x.uniform_loss(), s.config.vocab_size
    values = uniform_values(x)
    right = min(range(len(values)), key=lambda i: abs(values[i] - loss))
    report = s.training.train_step
    return right, dict(V=V, loss=loss, yours=x.session.tr(YOUR_LOSS, loss=report.loss)
                       if report is not None else "")


STEP = Chapter(
    N_("One training step"), "training", "step",
    {"before": N_("Training nudges the weights so that the true next tokens get more "
               "probability. One step: a batch of {B} windows of {T} tokens, the forward pass, "
               "the loss (the mean of −log p of each true next token), the backward pass (a "
               "gradient for each of the {n_params:,} weights) and AdamW's update at learning "
               "rate {lr:g}. Press Step one phase to walk through it."),
     "after": N_("Step {step}: a batch of {B} windows of {T} tokens, {BT:,} predictions. The "
              "loss is {loss:.3f}, so on average the true next token got p ≈ {p_true:.3f} "
              "(e to the −loss). The backward pass gave the {n_params:,} weights a gradient "
              "of norm {norm:.2f}{update}")},
    step_facts,
    Checkpoint(N_("A model that knows nothing gives each of the {V} tokens the same probability. "
               "What is its loss?"), uniform_options, uniform_check,
               N_("Every true next token gets p = 1/{V}, and −log(1/{V}) = ln {V} = {loss:.3f}: "
               "where a model with random weights starts.{yours}")))

# ---- 11. learning from zero ------------------------------------------------------------------

SHIPPED_REACHED = N_("; the shipped model reached {loss:.2f}")


def zero_facts(x: Experiments) -> Facts:
    s, training = x.session, x.session.training
    V = s.config.vocab_size
    found = dict(V=V, lnV=math.log(V), steps=len(training.history))
    if not training.from_zero:
        return found | dict(case="start")
    vals = training.val_history
    if not vals:
        return found | dict(case="no_validation")
    shipped = training.shipped_val_loss
    return found | dict(case="learning", first=vals[0][1], val=vals[-1][1], at=vals[-1][0],
                        shipped=x.session.tr(SHIPPED_REACHED, loss=shipped) if shipped else "")


ZERO = Chapter(
    N_("Learning from zero"), "training", "curve",
    {"start": N_("A model with random weights knows nothing: it gives each of the {V} tokens "
              "about the same probability, so its loss starts near ln {V} = {lnV:.2f}. Press "
              "Learn from zero, then Train, and watch the curve fall as it learns the text: "
              "first which characters are common, then which follow which, then words. The "
              "samples under the curve show what it writes at each milestone."),
     "learning": N_("This model started from random weights {steps:,} steps ago. Its validation "
                 "loss went from {first:.2f} (guessing uniformly costs ln {V} = {lnV:.2f}) to "
                 "{val:.2f} after {at:,} steps{shipped}. The samples under the curve show what "
                 "it wrote at each milestone."),
     "no_validation": N_("This model started from random weights {steps:,} steps ago, from a "
                      "loss near ln {V} = {lnV:.2f}; there is no held-out text to measure it "
                      "on.")},
    zero_facts)

# ---- 12. scale -------------------------------------------------------------------------------


def scale_facts(x: Experiments) -> Facts:
    s = x.session
    scale, cfg = s.engine.scale, s.config
    ours, gpt2, gpt3 = (scale.scale_of(n, c) for n, c in (
        ("ours", cfg), ("GPT-2 small", scale.GPT2_SMALL), ("GPT-3", scale.GPT3_175B)))
    big = scale.GPT3_175B
    return dict(ours=ours.params, n_layer=cfg.n_layer, C=cfg.n_embd, gpt2=gpt2.params,
                gpt3=gpt3.params, T3=big.block_size, n3=big.n_layer, C3=big.n_embd,
                ratio=gpt3.params / ours.params,
                kv3=human_bytes(2 * scale.kv_cache_numbers(big, big.block_size)),
                state3=human_bytes(2 * scale.recurrent_state_numbers(big)))


def scale_options(x: Experiments) -> list[str]:
    k = round(math.log10(scale_facts(x)["ratio"]))
    return [x.session.tr("about {n:,}×", n=10 ** e) for e in range(max(1, k - 2), k + 2)]


def scale_check(x: Experiments, pick: int) -> tuple[int, Facts]:
    facts = scale_facts(x)
    k = round(math.log10(facts["ratio"]))
    return scale_options(x).index(x.session.tr("about {n:,}×", n=10 ** k)), facts


SCALE = Chapter(
    N_("Scale"), "scale", "models",
    {"main": N_("Your model has {ours:,} parameters: {n_layer} blocks of width {C}. The same "
             "architecture, scaled, is GPT-2 small with {gpt2:,} and GPT-3 with {gpt3:,}. A "
             "model that size needs memory to look back too: at its full window of {T3:,} "
             "tokens GPT-3's KV cache holds {kv3} per sequence (16-bit numbers), where a "
             "recurrent model such as RWKV keeps a state of {state3} at any length.")},
    scale_facts,
    Checkpoint(N_("About how many times more parameters than yours does GPT-3 have?"),
               scale_options, scale_check,
               N_("GPT-3's {gpt3:,} parameters are {ratio:,.0f} times your {ours:,}: {n3} blocks "
               "of width {C3:,} against your {n_layer} of {C}.")))

# ---- 13. making it small, taking it home -----------------------------------------------------


def small_facts(x: Experiments) -> Facts:
    sizes = x.quantized("q4_0").file_bytes
    if None in sizes.values():
        return dict(case="no_file")
    return dict(f32=sizes["f32"], q8=sizes["q8_0"], q4=sizes["q4_0"],
                ratio=sizes["f32"] / sizes["q4_0"])


def small_check(x: Experiments, pick: int) -> tuple[int, Facts]:
    s = x.session
    found = x.quantized("q4_0")
    return (0 if found.top == found.float_top else 1), dict(
        top=quoted(s, found.float_top), p=found.float_p, qtop=quoted(s, found.top), qp=found.p)


SMALL = Chapter(
    N_("Making it small, taking it home"), "quantization", "compare",
    {"main": N_("Saved for llama.cpp as a GGUF file, your model takes {f32:,} bytes in float32. "
             "llama.cpp stores the weights of its matrices in blocks of 32 with one scale "
             "each: as Q8_0 the file takes {q8:,} bytes, as Q4_0 {q4:,}, {ratio:.1f} times "
             "smaller. Download GGUF writes the model as it is now, trained or edited, and "
             "llama.cpp runs it."),
     "no_file": N_("llama.cpp stores the weights of a model's matrices in blocks of 32 with one "
                "scale each (Q8_0, Q4_0). This model's tokenizer cannot go into a GGUF file, "
                "so the lab cannot write one for it.")},
    small_facts,
    Checkpoint(N_("Rounded to Q4_0, 4 bits a weight in its matrices, will your model still pick "
               "the same next token?"), lambda x: [N_("yes"), N_("no")], small_check,
               N_("In float32 the likeliest next token is {top} with p = {p:.3f}; rounded to "
               "Q4_0 it is {qtop} with p = {qp:.3f}.")),
    settings=(("lab.fmt", "q4_0"),))  # the picture shows what the question asks about

# ---- 14. changing the code -------------------------------------------------------------------

RUNS_SHIPPED = N_("The lab runs the shipped engine.")
RUNS_EDITED = N_("The lab runs your edited {files}.")
NO_MASK_TEXT = N_("The experiment needs some training text: paste your own in the Training view.")


def code_facts(x: Experiments) -> Facts:
    s = x.session
    sources = shipped_sources()
    running = (x.session.tr(RUNS_EDITED, files=", ".join(s.engine.edited)) if s.engine.edited
               else s.tr(RUNS_SHIPPED))
    return dict(n_files=len(editable(sources)), lines=len(sources["layers.py"].splitlines()),
                running=running)


def mask_check(x: Experiments, pick: int) -> tuple[int, Facts]:
    found = x.mask_experiment()
    if found is None:
        raise Unavailable(x.session.tr(NO_MASK_TEXT))
    gap = found.masked_train - found.unmasked_train
    right = 0 if gap > 0.1 else 2 if gap < -0.1 else 1
    return right, dict(steps=found.steps, n_layer=found.config.n_layer,
                       T=found.config.block_size, u=found.unmasked_train, m=found.masked_train,
                       ug=found.unmasked_generation, mg=found.masked_generation)


CODE = Chapter(
    N_("Changing the code"), "code", "editor",
    {"main": N_("Every picture in this tour came from this code: {n_files} files of Python and "
             "NumPy, the layers in layers.py ({lines} lines). Edit a function and press Run: "
             "every view follows, and the lab checks each layer's backward pass against its "
             "forward pass by finite differences. {running}")},
    code_facts,
    Checkpoint(N_("Suppose you deleted the causal mask from attention in layers.py, so every "
               "token could see the ones after it, and trained. Would the training loss end "
               "up lower, about the same, or higher?"),
               lambda x: [N_("lower"), N_("about the same"), N_("higher")], mask_check,
               N_("Trained {steps} steps side by side here (a tiny model: {n_layer} block, "
               "windows of {T} tokens), the model without the mask reaches a training loss of "
               "{u:.2f}, the one with it {m:.2f}: each position can read its answer, the next "
               "token, straight off the input. In generation that token does not exist yet: "
               "predicting from earlier tokens only, the unmasked model's loss is {ug:.2f} "
               "against {mg:.2f}. The mask keeps training honest.")))

BEYOND = (STEP, ZERO, SCALE, SMALL, CODE)
