"""Single-layer multi-head softmax attention for in-context regression (icl_linear_attention.md §3.4, §7).

    ATTN(X) = X + Σ_i W^V_i X smax(Xᵀ W^KQ_i X),

where smax normalizes each query column over the N+1 keys (the official code's row softmax over keys) of the
raw scores: no 1/√d and no 1/N (the softmax weights already sum to 1, so there is no ρ). Score of key i for
query j: x̃_iᵀ W^KQ_h x̃_j (merged; the official W_h is its transpose) or (W^K_h x̃_i)·(W^Q_h x̃_j) (separate).
No mask; the prediction is the y coordinate of the last (query) position. Parameters and inits are those of
``AttnM`` / ``AttnS`` (§3.6).

``forward`` computes every position; ``predict_query`` computes only the query column, which is exact
because the loss reads only the query output (§3.7); no Gram shortcut exists for softmax.
"""

from __future__ import annotations

import torch
from torch import nn

from verify.models.linear_attention import MergedHeads, SeparateHeads, check_tokens


class _SoftmaxAttention(nn.Module):
    D: int
    H: int

    def _readout(self, scores: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Σ_h Σ_i (y-row of W^V_h x̃_i) softmax_i(scores) for scores [P, H, key i, ...]."""
        weights = torch.softmax(scores, dim=2)
        values = torch.einsum("hd,pid->phi", self.value_row(), tokens)
        return torch.einsum("phi,phi...->p...", values, weights)

    def output_y(self, tokens: torch.Tensor) -> torch.Tensor:
        """y coordinate of ATTN(X) at every position [P, N+1]."""
        return tokens[..., -1] + self._readout(self.scores(tokens, tokens), tokens)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Faithful full-sequence forward; ŷ_q [P] = y coordinate of the last position."""
        check_tokens(tokens, self.D)
        return self.output_y(tokens)[:, -1]

    def predict_query(self, tokens: torch.Tensor) -> torch.Tensor:
        """Exact query-only evaluation ŷ_q [P]: the scores of the N+1 keys against the query alone."""
        check_tokens(tokens, self.D)
        scores = self.scores(tokens, tokens[:, -1:, :])[..., 0]  # [P, H, key i]
        return tokens[:, -1, -1] + self._readout(scores, tokens)

    def head_values(self) -> torch.Tensor:
        """v_i [H]."""
        return self.value_row()[:, self.D].detach()


class SoftmaxAttnM(_SoftmaxAttention, MergedHeads):
    """Softmax ATTN_M: merged W^KQ_i [D+1, D+1] per head, value rows (a_i, v_i); AttnM's init (§3.6)."""

    def __init__(self, D, H, init, *, freeze_zero_init: bool = False, seed=None):
        super().__init__()
        self._init_heads(D, H, init, freeze_zero_init, seed)

    def scores(self, keys_from: torch.Tensor, queries_from: torch.Tensor) -> torch.Tensor:
        """x̃_iᵀ W^KQ_h x̃_j [P, H, key i, query j]."""
        return torch.einsum("pid,hde,pje->phij", keys_from, self.kq(), queries_from)

    def U(self) -> torch.Tensor:
        """U_i [H, D, D], the x-block of W^KQ_i."""
        return self.kq()[:, : self.D, : self.D].detach()


class SoftmaxAttnS(_SoftmaxAttention, SeparateHeads):
    """Softmax ATTN_S: rank-R W^K_i, W^Q_i [R, D+1] per head, value rows (a_i, v_i); AttnS's inits (§3.6)."""

    def __init__(self, D, H, R, init, init_scheme: str = "paper", *, freeze_zero_init: bool = False,
                 seed=None):
        super().__init__()
        self._init_heads(D, H, R, init, init_scheme, freeze_zero_init, seed)

    def scores(self, keys_from: torch.Tensor, queries_from: torch.Tensor) -> torch.Tensor:
        """(W^K_h x̃_i)·(W^Q_h x̃_j) [P, H, key i, query j]."""
        keys = torch.einsum("hrd,pid->phir", self.key_weights(), keys_from)
        queries = torch.einsum("hrd,pjd->phjr", self.W_Q, queries_from)
        return keys @ queries.transpose(-1, -2)

