"""One-hot single-head linear attention of the sequential-learning experiment (associative_memory.md §8.2;
official ``sequential-learning.ipynb``).

Tokens z [B, T] with one-hot embeddings x_t = e_{z_t} ∈ R^vocab (d = vocab, no positions); the last position
queries, with no softmax over the scores:

    o = Σ_t (x_{T−1}ᵀ A x_t) x_t ∈ R^vocab,    logits = oᵀ V ∈ R^{n_answers},

A [vocab, vocab], V [vocab, n_answers], both a0·ones at init; cross-entropy over the answers. When the query is
the EOS token only its row a = A[EOS] enters, and logits = Σ_τ c_τ(z) a_τ V[τ] with c_τ the token counts:
``forward_counts`` is that exact fast path (tested equal to ``forward``), whose gradients are the closed forms
of ``sim.memory.onehot``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from theory._validate import count


class OneHotLinearAttention(nn.Module):
    def __init__(self, vocab, n_answers, a0: float = 1e-5, dtype=torch.float32):
        super().__init__()
        self.vocab, self.n_answers = count("vocab", vocab), count("n_answers", n_answers)
        a0 = float(a0)
        if not math.isfinite(a0):
            raise ValueError(f"a0 must be finite, got {a0!r}")
        self.A = nn.Parameter(torch.full((self.vocab, self.vocab), a0, dtype=dtype))
        self.V = nn.Parameter(torch.full((self.vocab, self.n_answers), a0, dtype=dtype))

    def _check(self, tokens: torch.Tensor) -> None:
        if tokens.ndim != 2 or tokens.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"tokens must be an integer tensor [B, T], got {tokens.dtype} {tuple(tokens.shape)}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab):
            raise ValueError(f"tokens must lie in [0, {self.vocab})")

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Faithful forward: logits [B, n_answers] from the one-hot sequence, scores x_{T−1}ᵀ A x_t for all t."""
        self._check(tokens)
        X = F.one_hot(tokens, self.vocab).to(self.A.dtype)  # [B, T, vocab]
        query = X[:, -1, :]  # [B, vocab]
        scores = torch.einsum("bv,vw,btw->bt", query, self.A, X)
        out = torch.einsum("bt,btv->bv", scores, X)
        return out @ self.V

    def forward_counts(self, counts: torch.Tensor, query: int) -> torch.Tensor:
        """Fast path: logits [B, n_answers] = (counts ⊙ A[query]) V for token counts [B, vocab] of sequences whose
        last token is ``query`` (EOS in the §8 task)."""
        if counts.ndim != 2 or counts.shape[1] != self.vocab:
            raise ValueError(f"counts must be [B, {self.vocab}], got {tuple(counts.shape)}")
        return (counts.to(self.A.dtype) * self.A[query]) @ self.V

    def loss(self, tokens: torch.Tensor, answers: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.forward(tokens), answers)

    def loss_counts(self, counts: torch.Tensor, query: int, answers: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.forward_counts(counts, query), answers)


def token_counts(tokens: torch.Tensor, vocab: int) -> torch.Tensor:
    """Counts [B, vocab] (same dtype as a float tensor would need: float32) of tokens [B, T]."""
    counts = torch.zeros(tokens.shape[0], vocab, dtype=torch.float32, device=tokens.device)
    return counts.scatter_add_(1, tokens, torch.ones_like(tokens, dtype=torch.float32))
