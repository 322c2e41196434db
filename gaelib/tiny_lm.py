r"""A tiny causal transformer and a synthetic digit language, for RLHF on a CPU.

The testbed of the language-model chapters, small enough to pretrain from scratch in
seconds and to fine-tune with PPO in a minute on two CPU cores, with no download:

* **The language.** Sentences ``BOS d1 d2 ... dL EOS`` with i.i.d. uniform digits and a
  uniform length ``L`` in ``[min_len, max_len]``. Tokens: digits 0-9, then ``BOS``,
  ``EOS``, ``PAD`` (13 in all).
* **The task.** A prompt is ``BOS d1``; the model writes the rest. The programmatic
  reward :func:`sortedness` scores how sorted the digits are, once, at the end: the
  reward a verifier or reward model would give.
* **The model.** :class:`TinyGPT`, a pre-LayerNorm decoder-only transformer
  (d=64, 2 layers, 4 heads by default, about 103k parameters). :class:`ValueModel` is
  a critic: a copy of a trunk with a scalar head, initialised to zero.

Sampling uses an explicit ``torch.Generator`` so that runs repeat exactly.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "BOS", "EOS", "PAD", "VOCAB_SIZE",
    "LMConfig", "TinyGPT", "ValueModel",
    "sample_sentences", "pretrain", "make_prompts", "generate", "sequence_log_probs",
    "sortedness", "decode", "count_parameters",
]

BOS, EOS, PAD = 10, 11, 12
VOCAB_SIZE = 13


@dataclass
class LMConfig:
    """Size of :class:`TinyGPT`."""

    d_model: int = 64
    """Width of the residual stream."""
    n_layers: int = 2
    """Transformer blocks."""
    n_heads: int = 4
    """Attention heads per block."""
    context: int = 24
    """Longest sequence (prompt + response) the position embedding covers."""


class _Block(nn.Module):
    def __init__(self, cfg: LMConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, 4 * cfg.d_model), nn.GELU(),
                                 nn.Linear(4 * cfg.d_model, cfg.d_model))
        self.n_heads = cfg.n_heads

    def forward(self, x):
        B, L, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, L, 3, self.n_heads, D // self.n_heads).unbind(2)
        att = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                             is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(B, L, D))
        return x + self.mlp(self.ln2(x))


class TinyGPT(nn.Module):
    """Decoder-only transformer: ``tokens [B, L]`` to next-token logits ``[B, L, VOCAB_SIZE]``."""

    def __init__(self, cfg: LMConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or LMConfig()
        self.tok = nn.Embedding(VOCAB_SIZE, cfg.d_model)
        self.pos = nn.Embedding(cfg.context, cfg.d_model)
        self.blocks = nn.ModuleList([_Block(cfg) for _ in range(cfg.n_layers)])
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, VOCAB_SIZE)

    def hidden(self, tokens):
        """Final hidden states ``[B, L, d_model]``."""
        L = tokens.shape[1]
        if L > self.cfg.context:
            raise ValueError(f"sequence of length {L} exceeds the context {self.cfg.context}")
        x = self.tok(tokens) + self.pos(torch.arange(L, device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return self.ln_f(x)

    def forward(self, tokens):
        return self.head(self.hidden(tokens))


class ValueModel(nn.Module):
    """Critic: a copy of a :class:`TinyGPT` trunk and a zero-initialised scalar head.

    ``values[b, i]`` is :math:`V` of the state made of ``tokens[b, :i+1]``, i.e. read at
    the position that predicts token ``i + 1``, the convention of every RLHF engine.
    """

    def __init__(self, trunk: TinyGPT):
        super().__init__()
        self.trunk = copy.deepcopy(trunk)
        self.trunk.head = nn.Identity()  # unused; keeps the state_dict small
        self.v_head = nn.Linear(trunk.cfg.d_model, 1)
        nn.init.zeros_(self.v_head.weight)
        nn.init.zeros_(self.v_head.bias)

    def forward(self, tokens):
        return self.v_head(self.trunk.hidden(tokens)).squeeze(-1)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --------------------------------------------------------------------------- the language


def sample_sentences(n: int, generator: torch.Generator, *, min_len: int = 4, max_len: int = 10,
                     context: int = 24) -> torch.Tensor:
    """``n`` sentences ``BOS d1..dL EOS`` padded with ``PAD`` to ``context`` tokens (int64 ``[n, context]``)."""
    if not 1 <= min_len <= max_len or max_len + 2 > context:
        raise ValueError(f"need 1 <= min_len <= max_len and max_len + 2 <= context; got "
                         f"{min_len}, {max_len}, {context}")
    lengths = torch.randint(min_len, max_len + 1, (n,), generator=generator)
    digits = torch.randint(0, 10, (n, context), generator=generator)
    pos = torch.arange(context)[None, :]
    L = lengths[:, None]
    tokens = torch.where(pos <= L, digits, PAD)
    tokens = torch.where(pos == L + 1, EOS, tokens)
    tokens[:, 0] = BOS
    return tokens


def pretrain(model: TinyGPT, *, steps: int = 300, batch_size: int = 64, lr: float = 3e-3,
             generator: torch.Generator, **language) -> list[float]:
    """Train ``model`` by next-token cross-entropy on fresh sentences; returns the losses.

    Padding positions are ignored; the ``EOS`` target is kept, so the model learns to stop.
    ``language`` is passed to :func:`sample_sentences` (``min_len``, ``max_len``).
    """
    width = language.get("max_len", 10) + 2  # BOS, digits, EOS: no all-padding columns
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: min(1.0, (i + 1) / 20) * (1 - i / steps))
    losses = []
    model.train()
    for _ in range(steps):
        x = sample_sentences(batch_size, generator, context=width, **language)
        logits = model(x[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, VOCAB_SIZE), x[:, 1:].reshape(-1), ignore_index=PAD)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return losses


# --------------------------------------------------------------------------- sampling and scoring


def make_prompts(n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` prompts ``BOS d1`` (int64 ``[n, 2]``)."""
    return torch.stack([torch.full((n,), BOS), torch.randint(0, 10, (n,), generator=generator)], 1)


@torch.no_grad()
def generate(model: TinyGPT, prompts: torch.Tensor, max_new: int, generator: torch.Generator,
             *, temperature: float = 1.0) -> torch.Tensor:
    """Sample responses; returns int64 ``[B, max_new]``, ``PAD`` after the first ``EOS``.

    ``BOS`` and ``PAD`` are never sampled. A row without ``EOS`` was cut at ``max_new``.
    """
    seq = prompts
    done = torch.zeros(prompts.shape[0], dtype=torch.bool)
    out = []
    for _ in range(max_new):
        logits = model(seq)[:, -1, :] / temperature
        logits[:, BOS] = -float("inf")
        logits[:, PAD] = -float("inf")
        nxt = torch.multinomial(F.softmax(logits, -1), 1, generator=generator).squeeze(1)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        out.append(nxt)
        done = done | (nxt == EOS)
        seq = torch.cat([seq, nxt[:, None]], 1)
    return torch.stack(out, 1)


def sequence_log_probs(model: TinyGPT, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
    """Log-probabilities ``[B, R]`` of the response tokens, with gradient.

    The logits at position ``P - 1 + i`` (``P`` the prompt length) predict response token
    ``i``: the slice ``[P-1 : -1]`` that every RLHF engine uses. ``BOS`` and ``PAD`` are
    masked out of the softmax, as in :func:`generate`; padding positions get 0.
    """
    P = prompts.shape[1]
    logits = model(torch.cat([prompts, responses], 1))[:, P - 1:-1, :]
    logits = logits.masked_fill(_banned(logits), -float("inf"))
    lp = F.log_softmax(logits, -1)
    pad = responses == PAD
    lp = lp.gather(-1, responses.masked_fill(pad, EOS)[..., None]).squeeze(-1)
    return lp.masked_fill(pad, 0.0)  # padding is not an action


def _banned(logits):
    banned = torch.zeros(VOCAB_SIZE, dtype=torch.bool)
    banned[BOS] = banned[PAD] = True
    return banned.expand_as(logits)


def sortedness(prompts: torch.Tensor, responses: torch.Tensor, *, min_digits: int = 4) -> torch.Tensor:
    """The programmatic reward: fraction of adjacent digit pairs in non-decreasing order.

    The digits are the prompt's digit followed by the response's digits up to ``EOS``.
    Fewer than ``min_digits`` digits score 0, so the shortest strings cannot win trivially.
    Returns float32 ``[B]`` in [0, 1].
    """
    scores = []
    for p, r in zip(prompts.tolist(), responses.tolist()):
        d = [t for t in p if t < 10]
        for t in r:
            if t == EOS or t == PAD:
                break
            d.append(t)
        if len(d) < max(min_digits, 2):  # a single digit has no pair
            scores.append(0.0)
        else:
            scores.append(float(np.mean([a <= b for a, b in zip(d[:-1], d[1:])])))
    return torch.tensor(scores, dtype=torch.float32)


def decode(prompt: torch.Tensor, response: torch.Tensor) -> str:
    """Human-readable text of one sample: digits, ``|`` between prompt and response, ``.`` for EOS."""
    s = "".join(str(t) for t in prompt.tolist() if t < 10) + "|"
    for t in response.tolist():
        if t == EOS:
            return s + "."
        if t == PAD:
            break
        s += str(t)
    return s + "…"
