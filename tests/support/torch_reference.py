"""GPT-2 written with PyTorch's own building blocks: the oracle for tests and benchmarks.

Built from F.layer_norm, F.scaled_dot_product_attention(is_causal=True),
F.gelu(approximate="tanh") and F.cross_entropy over a dict of parameters named and laid
out like ours (weights (in, out)), so the same arrays can be fed to both.
"""

from __future__ import annotations

from torch.nn import functional as F  # noqa: N812  (the usual name)

from engine import GPTConfig


def torch_gpt_loss(params: dict, config: GPTConfig, idx, targets, head_mask=None):
    """GPT-2 in torch: the logits and the mean cross-entropy."""
    B, T = idx.shape
    nh, C = config.n_head, config.n_embd
    x = params["wte"][idx] + params["wpe"][:T]
    for i in range(config.n_layer):
        def p(name, i=i):
            return params[f"h.{i}.{name}"]
        h = F.layer_norm(x, (C,), p("ln_1.g"), p("ln_1.b"), eps=1e-5)
        q, k, v = (h @ p("attn.c_attn.w") + p("attn.c_attn.b")).split(C, dim=-1)
        q, k, v = (t.view(B, T, nh, C // nh).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B, nh, T, hs)
        if head_mask is not None:
            y = y * head_mask[i].view(1, nh, 1, 1)
        y = y.transpose(1, 2).reshape(B, T, C)
        x = x + y @ p("attn.c_proj.w") + p("attn.c_proj.b")
        h = F.layer_norm(x, (C,), p("ln_2.g"), p("ln_2.b"), eps=1e-5)
        h = F.gelu(h @ p("mlp.c_fc.w") + p("mlp.c_fc.b"), approximate="tanh")
        x = x + h @ p("mlp.c_proj.w") + p("mlp.c_proj.b")
    x = F.layer_norm(x, (C,), params["ln_f.g"], params["ln_f.b"], eps=1e-5)
    logits = x @ params["wte"].T
    return logits, F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
