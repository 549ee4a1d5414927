"""The tour's first chapters, in the order the data flows: from the reader's text to the next
token, and the token fed back. Each chapter's facts are read from the live session."""

from __future__ import annotations

import numpy as np

from app.i18n import N_
from app.session.experiments import Experiments
from app.tour.chapter import Chapter, Checkpoint, Facts, Unavailable, numbers, quoted
from app.views.parts.markup import visible
from engine.lens import depth_names

# ---- 1. text -> tokens -> ids ----------------------------------------------------------------

NO_BPE = N_("These weights came without a byte-pair encoding, so there is nothing to compare.")


def text_facts(x: Experiments) -> Facts:
    s = x.session
    ids = s.ids
    return dict(n_tokens=len(ids), first=quoted(s, ids[0]), first_id=ids[0],
                last=quoted(s, ids[-1]), last_id=ids[-1], V=s.config.vocab_size)


def bpe_check(x: Experiments, pick: int) -> tuple[int, Facts]:
    s = x.session
    bpe = x.bpe_count()
    if bpe is None:
        raise Unavailable(x.session.tr(NO_BPE))
    n = len(s.ids)
    right = 0 if bpe < n else 1 if bpe == n else 2
    return right, dict(bpe_tokens=bpe, n_tokens=n,
                       n_bytes=len(s.tokenizer.decode(s.ids).encode("utf-8")))


TEXT = Chapter(
    N_("From text to numbers"), "tokens", "chips",
    {"main": N_("The model reads your prompt as {n_tokens} tokens, one per character: the first, "
             "{first}, is id {first_id}; the last, {last}, is id {last_id}. Each id is a row "
             "number in a vocabulary of {V}: a GPT never sees letters, only these numbers. "
             "GPT-2 cuts text differently: byte-pair encoding merges frequent pairs of bytes "
             "into longer tokens.")},
    text_facts,
    Checkpoint(N_("Would byte-pair encoding cut your prompt into fewer tokens than the model's "
               "{n_tokens}, as many, or more?"),
               lambda x: [N_("fewer"), N_("as many"), N_("more")], bpe_check,
               N_("Byte-pair encoding makes {bpe_tokens} tokens of it against the model's "
               "{n_tokens}. It starts from one token per byte ({n_bytes} here) and each merge "
               "joins a frequent pair into one token, so it can only shorten the text.")))

# ---- 2. the vocabulary and the one-hot row ---------------------------------------------------


def vocabulary_facts(x: Experiments) -> Facts:
    s = x.session
    q = s.query_position
    return dict(V=s.config.vocab_size, distinct=len(set(s.ids)), position=q,
                piece=quoted(s, s.ids[q]), id=s.ids[q])


VOCABULARY = Chapter(
    N_("The vocabulary and the one-hot row"), "tokens", "vocabulary",
    {"main": N_("The vocabulary is every token the model knows: {V} of them, each with its id. "
             "Your prompt uses {distinct} different ones, lit below. Token {position}, "
             "{piece}, enters the model as a one-hot row: {V} numbers, all 0 but a single 1 at "
             "place {id}. Multiplying a one-hot row by a matrix picks the matrix's row {id}: "
             "that is the embedding lookup, two chapters on.")},
    vocabulary_facts)

# ---- 3. windows over the text ----------------------------------------------------------------


def window(x: Experiments) -> tuple[np.ndarray, int, int]:
    """The training tokens, the block size, and where the Examples view's window starts."""
    s = x.session
    tokens, T = s.train_tokens, s.config.block_size
    return tokens, T, min(s.example_start, max(0, len(tokens) - T - 1))


def window_facts(x: Experiments) -> Facts:
    s = x.session
    tokens, T, start = window(x)
    if len(tokens) < T + 2:
        return dict(case="no_text", T=T)
    xs, ys = s.engine.data.window(tokens, start, T)
    return dict(corpus=s.corpus_name or "your text", n_tokens=len(tokens), T=T, start=start,
                x=", ".join(map(str, xs[:6])), y=", ".join(map(str, ys[:6])),
                n_windows=s.engine.data.n_windows(tokens, T))


def window_options(x: Experiments) -> list[str]:
    T = x.session.config.block_size
    return [str(n) for n in sorted({1, T - 1, T, T + 1})]


def window_check(x: Experiments, pick: int) -> tuple[int, Facts]:
    tokens, T, start = window(x)
    if len(tokens) < T + 2:
        raise Unavailable(x.session.tr(NO_TEXT))
    count = x.session.engine.experiments.examples_in_window(tokens, start, T)
    return window_options(x).index(str(count)), dict(count=count, T=T, last=count - 1)


NO_TEXT = N_("There is no training text here: paste your own in the Training view.")
WINDOWS = Chapter(
    N_("Windows over the text"), "examples", "window",
    {"main": N_("The model learns from {corpus}: {n_tokens:,} tokens, cut into windows of {T}. "
             "The window at {start:,} gives the inputs x = [{x}, …] and the targets "
             "y = [{y}, …]: the same text, shifted by one. Each training step draws a batch "
             "of windows at random, from {n_windows:,} places."),
     "no_text": N_("There is no training text yet: paste your own in the Training view, and "
                "windows of {T} tokens will slide over it.")},
    window_facts,
    Checkpoint(N_("How many training examples does one window of {T} tokens hold?"),
               window_options, window_check,
               N_("{count}: one per position. After x[0] comes y[0], after x[0..1] comes y[1], "
               "and so on to y[{last}]; one forward pass learns from all {count} at once.")))

# ---- 4. the embedding lookup -----------------------------------------------------------------


def embedding_facts(x: Experiments) -> Facts:
    s = x.session
    q, p = s.query_position, s.model.params
    token = s.ids[q]
    V, C = p["wte"].shape
    return dict(q=q, piece=quoted(s, token), id=token, V=V, C=C, T=s.config.block_size,
                w=numbers(p["wte"][token][:3], tr=s.tr), p=numbers(p["wpe"][q][:3], tr=s.tr),
                e=numbers(s.trace.emb[0, q][:3], tr=s.tr))


EMBEDDING = Chapter(
    N_("The embedding lookup"), "embedding", "lookup",
    {"main": N_("Token {q}, {piece}, has id {id}, so the model takes row {id} of wte, a table of "
             "{V} rows of {C} numbers, one row per token. Its position takes row {q} of wpe, "
             "one row per position up to {T}. wte[{id}] begins {w} …, wpe[{q}] begins {p} …, "
             "and their sum, {e} …, is the vector that enters the first block.")},
    embedding_facts)

# ---- 5. one attention head, step by step -----------------------------------------------------


def head_facts(x: Experiments) -> Facts:
    s = x.session
    q, hs = s.query_position, s.config.head_size
    masked = s.trace.blocks[s.layer].masked_scores[0, s.head]
    return dict(layer=s.layer, head=s.head, q=q, piece=quoted(s, s.ids[q]), hs=hs,
                sqrt=float(np.sqrt(hs)), n_keys=q + 1, T=len(s.ids),
                n_hidden=int(np.isneginf(masked).sum()))


def head_options(x: Experiments) -> list[str]:
    s = x.session
    return [visible(p) for p in s.pieces(s.ids[:s.query_position + 1])]


def head_check(x: Experiments, pick: int) -> tuple[int, Facts]:
    s = x.session
    key, weight = x.strongest_key()
    att = s.trace.blocks[s.layer].att[0, s.head, s.query_position]
    return key, dict(layer=s.layer, head=s.head, key=key, key_piece=quoted(s, s.ids[key]),
                     weight=weight, n_keys=s.query_position + 1, pick=pick,
                     pick_piece=quoted(s, s.ids[pick]), pick_weight=float(att[pick]))


ATTENTION = Chapter(
    N_("One attention head, step by step"), "attention", "steps",
    {"main": N_("Block {layer}, head {head}, at token {q}, {piece}. Its query, a vector of {hs} "
             "numbers, is dotted with the key of each of the {n_keys} tokens up to it and "
             "divided by √{hs} = {sqrt:.2f}: the scores (1). The causal mask (2) hides the "
             "{n_hidden:,} scores of the {T} × {T} grid where a token would look at a later "
             "one. A softmax (3) turns the scores into weights that "
             "add up to 1, and the head's output (4) is the weighted sum of the value vectors.")},
    head_facts,
    Checkpoint(N_("Which token will this head attend to most from token {q}, {piece}? Pick one."),
               head_options, head_check,
               N_("Block {layer}, head {head} gives token {key}, {key_piece}, the weight "
               "{weight:.2f}, the most of the {n_keys}. Your pick, token {pick}, {pick_piece}, "
               "gets {pick_weight:.2f}.")))

# ---- 6. many heads, and what some of them do -------------------------------------------------

INDUCTION = 0.3  # a head this sure of the pattern is called an induction head here
INDUCTION_FOUND = (N_("Block {b}, head {h} copies: it puts {score:.0%} on what followed an "
                   "earlier copy of its token (an induction head)."))
INDUCTION_NOT_YET = (N_("None copies yet (an induction head's job): no head puts over "
                     "{score:.0%} on what followed an earlier copy of its token."))
TOP_STAYS = N_("stays {base}")
TOP_TURNS = N_("turns from {base} to {new}")


def heads_facts(x: Experiments) -> Facts:
    s = x.session
    cfg = s.config
    found = dict(n_layer=cfg.n_layer, n_head=cfg.n_head, n_heads=cfg.n_layer * cfg.n_head)
    scores = x.head_roles()
    if scores is None or np.isnan(scores.previous).all():
        return found | dict(case="no_roles")
    pb, ph = np.unravel_index(int(np.nanargmax(scores.previous)), scores.previous.shape)
    ib, ih = np.unravel_index(int(np.nanargmax(scores.induction)), scores.induction.shape)
    ind = float(scores.induction[ib, ih])
    copying = x.session.tr(INDUCTION_FOUND if ind >= INDUCTION else INDUCTION_NOT_YET,
        b=int(ib), h=int(ih), score=ind)
    return found | dict(pb=int(pb), ph=int(ph), ps=float(scores.previous[pb, ph]), ib=int(ib),
                        ih=int(ih), ind=ind, copying=copying)


def heads_options(x: Experiments) -> list[str]:
    cfg = x.session.config
    return [x.session.tr("block {b}, head {h}", b=b, h=h) for b in range(cfg.n_layer)
            for h in range(cfg.n_head)]


def heads_check(x: Experiments, pick: int) -> tuple[int, Facts]:
    s = x.session
    found = x.ablation()
    sb, sh = found.strongest
    new = int(found.top[sb, sh])
    base = quoted(s, found.base_top)
    change = (x.session.tr(TOP_STAYS, base=base) if new == found.base_top else
              x.session.tr(TOP_TURNS, base=base, new=quoted(s, new)))
    pb, ph = divmod(pick, s.config.n_head)
    return sb * s.config.n_head + sh, dict(sb=sb, sh=sh, kl=float(found.kl[sb, sh]),
                                           change=change, pb=pb, ph=ph,
                                           pick_kl=float(found.kl[pb, ph]))


HEADS = Chapter(
    N_("Many heads and their jobs"), "attention", "roles",
    {"main": N_("Each of the {n_layer} blocks has {n_head} heads, {n_heads} in all, each with its "
             "own queries, keys and values, so each can look for something else. Block {pb}, "
             "head {ph} puts {ps:.0%} of its attention on the token just before, more than any "
             "other head (a previous-token head's job). {copying}"),
     "no_roles": N_("Each of the {n_layer} blocks has {n_head} heads, {n_heads} in all, each "
                 "with its own queries, keys and values, so each can look for something "
                 "else. This vocabulary is too small to measure what they do.")},
    heads_facts,
    Checkpoint(N_("Switch off one head alone: which one changes the model's prediction after "
               "your prompt the most?"), heads_options, heads_check,
               N_("Switching off block {sb}, head {sh} moves the next-token distribution the "
               "furthest, by KL = {kl:.3f} nats, and the likeliest next token {change}. Your "
               "pick, block {pb}, head {ph}, moves it by {pick_kl:.3f}.")))

# ---- 7. the MLP and the residual stream ------------------------------------------------------

BEFORE = N_("; just before, after {prev}, its top guess was {prev_top}")


def stream_facts(x: Experiments) -> Facts:
    s = x.session
    q, C = s.query_position, s.config.n_embd
    reading = x.lens()
    norms = s.engine.residual.track_norms(s.trace)[q]
    return dict(C=C, n_sub=2 * s.config.n_layer, hidden=4 * C, q=q, norm0=float(norms[0]),
                norm1=float(norms[-1]), final=quoted(s, reading.final),
                p_final=float(reading.final_probs[-1]), p_first=float(reading.final_probs[0]))


def stream_check(x: Experiments, pick: int) -> tuple[int, Facts]:
    s = x.session
    reading, depth = x.lens(), x.first_depth_of_final()
    names = depth_names(s.config.n_layer)
    before = "" if depth == 0 else x.session.tr(BEFORE,
        prev=names[depth - 1], prev_top=quoted(s, int(np.argmax(reading.probs[depth - 1]))))
    return depth, dict(final=quoted(s, reading.final), depth=names[depth],
                       p=float(reading.final_probs[depth]), before=before)


STREAM = Chapter(
    N_("The MLP and the residual stream"), "residual", "lens",
    {"main": N_("Each token's vector, {C} numbers, runs down its own track, the residual stream, "
             "and each of the {n_sub} sub-blocks adds to it; an MLP widens it to {hidden} "
             "numbers, applies GELU and narrows it back. Token {q}'s vector grows from length "
             "{norm0:.1f} to {norm1:.1f}. The logit lens reads the track after every sub-block "
             "as if the model stopped there: the final guess, {final} (p = {p_final:.2f}), has "
             "p = {p_first:.2f} right after the embedding.")},
    stream_facts,
    Checkpoint(N_("After which sub-block does the model's final guess first become the lens's "
               "top guess?"), lambda x: depth_names(x.session.config.n_layer), stream_check,
               N_("The lens ranks {final} first from {depth} on, with p = {p:.2f} there{before}.")))

# ---- 8. logits -> probabilities -> sampling --------------------------------------------------

TOP_K = N_(", keeps the {k} likeliest (top-k)")
TOP_P = N_(", keeps the likeliest whose probabilities add up to {p:g} (top-p)")
HOTTER = (N_("Dividing the logits by a larger temperature shrinks the gaps between them, so the "
          "softmax spreads the probability more evenly."))
COLDER = (N_("Dividing the logits by a smaller temperature widens the gaps between them, so the "
          "softmax piles the probability onto the likeliest tokens."))
UNMOVED = N_("Top-k or top-p leaves this token alone in the running, so it keeps all of it.")


def other_temperature(t: float) -> float:
    """The temperature the question compares with: half a step hotter, within the slider."""
    return round(t + 0.5, 2) if t + 0.5 <= 2.0 else round(t - 0.5, 2)


def sampling_facts(x: Experiments) -> Facts:
    s = x.session
    raw = s.trace.probs[0, -1]
    raw_top = int(np.argmax(raw))
    top, p = x.top_probability(s.temperature)
    filters = (x.session.tr(TOP_K, k=s.top_k) if s.top_k else "") + (
        x.session.tr(TOP_P, p=s.top_p) if s.top_p < 1 else "")
    return dict(case="greedy" if s.temperature == 0 else "main", V=s.config.vocab_size,
                raw_top=quoted(s, raw_top), raw_p=float(raw[raw_top]), t=s.temperature,
                t2=other_temperature(s.temperature), filters=filters, top=quoted(s, top), p=p,
                kept=int(np.count_nonzero(s.next_probs)))


def sampling_check(x: Experiments, pick: int) -> tuple[int, Facts]:
    s = x.session
    t, t2 = s.temperature, other_temperature(s.temperature)
    top, p1 = x.top_probability(t)
    _, p2 = x.top_probability(t2)
    right = 0 if p2 > p1 + 1e-9 else 1 if p2 < p1 - 1e-9 else 2
    reason = s.tr(UNMOVED if right == 2 else HOTTER if t2 > t else COLDER)
    return right, dict(t=t, t2=t2, top=quoted(s, top), p1=p1, p2=p2, reason=reason)


SAMPLING = Chapter(
    N_("Logits, probabilities, sampling"), "next", "probabilities",
    {"main": N_("The last position's {V} logits become probabilities with a softmax: at "
             "temperature 1 the model gives {raw_top} p = {raw_p:.3f}. Sampling first divides "
             "the logits by the temperature, {t:g}{filters}: now {top} has p = {p:.3f}, and "
             "{kept} of the {V} tokens can be drawn."),
     "greedy": N_("The last position's {V} logits become probabilities with a softmax: at "
               "temperature 1 the model gives {raw_top} p = {raw_p:.3f}. At temperature 0 "
               "sampling always takes the likeliest token, {top}, so {kept} of the {V} tokens "
               "can be drawn.")},
    sampling_facts,
    Checkpoint(N_("If the temperature went from {t:g} to {t2:g}, would {top}'s probability rise, "
               "fall, or stay the same?"), lambda x: [N_("rise"), N_("fall"), N_("stay the same")],
               sampling_check,
               N_("At temperature {t:g}, {top} has p = {p1:.3f}; at {t2:g}, p = {p2:.3f}. "
               "{reason}")))

# ---- 9. the generation loop ------------------------------------------------------------------

NOTHING_YET = N_("Press Generate next token to draw one.")
LAST_DRAWN = N_("The last one drawn was {piece}, which had p = {p:.3f}.")


def loop_facts(x: Experiments) -> Facts:
    s = x.session
    n, cfg = len(s.ids), s.config
    last = (x.session.tr(LAST_DRAWN, piece=repr(visible(s.sampled.piece)), p=s.sampled.prob)
            if s.sampled is not None and s.prompt.endswith(s.sampled.piece) else s.tr(NOTHING_YET))
    kv = s.engine.scale.kv_cache_numbers(cfg, n)
    return dict(last=last, n=n, kv=kv, kv_kb=4 * kv / 1000, T=cfg.block_size)


LOOP = Chapter(
    N_("The generation loop"), "next", "generate",
    {"main": N_("To write, the model draws one token from those probabilities, appends it to the "
             "text, and runs again on the longer text: each new token is fed back in. {last} "
             "Running again need not redo the earlier tokens: their keys and values wait in a "
             "KV cache, for your {n} tokens {kv:,} numbers ({kv_kb:.1f} kB in float32). Past "
             "{T} tokens the window slides on and the oldest token drops out.")},
    loop_facts)

FLOW = (TEXT, VOCABULARY, WINDOWS, EMBEDDING, ATTENTION, HEADS, STREAM, SAMPLING, LOOP)
