"""Two-layer linear network on cubic features, the MLP form of ATTN_M (icl_linear_attention.md §3.3).

Input z = vec(β x_qᵀ) [D²] with column-major vec, i.e. z = x_q ⊗ β (z[j·D + i] = β_i x_{q,j}), where
β = (1/N) Σ_n y_n x_n over the N context pairs (``normalize_by_N=True``, paper units) or Σ_n y_n x_n
(``False``, the official code). Prediction ŷ_q = w_2ᵀ W_1 z, W_1 [H, D²], w_2 [H], no biases.

``attn_m_to_mlp`` maps an ATTN_M to this network exactly (Eqs. 6–7): W_1 row i = vec(U_i)ᵀ, w_2 = v.
"""

from __future__ import annotations

import torch
from torch import nn

from theory._validate import count
from verify.models.linear_attention import (
    AttnM,
    check_gram,
    check_init,
    check_tokens,
    cubic_gram_coefficients,
    cubic_gram_features,
    make_generator,
    normal,
    quadratic_loss,
    second_moments,
)


class CubicMLP(nn.Module):
    """ŷ_q = w_2ᵀ W_1 z on z = x_q ⊗ β; both layers N(0, init²) (official init, §3.6)."""

    def __init__(self, D, H, init, normalize_by_N: bool = True, *, seed=None):
        super().__init__()
        self.D, self.H = count("D", D), count("H", H)
        self.normalize_by_N = bool(normalize_by_N)
        init = check_init(init)
        generator = make_generator(seed)
        self.W1 = nn.Parameter(normal((self.H, self.D * self.D), init, generator))
        self.w2 = nn.Parameter(normal((self.H,), init, generator))
        # The MLP reads only the y-row of S: as an attention head its value row is e_{D+1} (a fixed buffer, so the
        # moment-path step allocates nothing and can be captured as a CUDA graph).
        y_row = torch.zeros(1, self.D + 1)
        y_row[0, self.D] = 1.0
        self.register_buffer("y_row", y_row, persistent=False)

    @staticmethod
    def _cubic(beta: torch.Tensor, x_q: torch.Tensor) -> torch.Tensor:
        """z = x_q ⊗ β [P, D²] (column-major vec of β x_qᵀ)."""
        return (x_q[:, :, None] * beta[:, None, :]).reshape(beta.shape[0], -1)

    def features(self, tokens: torch.Tensor) -> torch.Tensor:
        """z [P, D²] from tokens [P, N+1, D+1] (β sums the N context pairs only)."""
        N = check_tokens(tokens, self.D)
        x, y = tokens[:, :N, : self.D], tokens[:, :N, self.D]
        beta = torch.einsum("pn,pnd->pd", y, x)
        if self.normalize_by_N:
            beta = beta / N
        return self._cubic(beta, tokens[:, N, : self.D])

    def features_gram(self, S: torch.Tensor, xq: torch.Tensor, N) -> torch.Tensor:
        """z [P, D²] from S = XXᵀ and x̃_q: Σ_n y_n x_n = S[:D, D] because the query's y is 0."""
        check_gram(S, xq, self.D)
        N = count("N", N)
        beta = S[:, : self.D, self.D]
        if self.normalize_by_N:
            beta = beta / N
        return self._cubic(beta, xq[:, : self.D])

    def predict_features(self, z: torch.Tensor) -> torch.Tensor:
        """ŷ_q [P] = w_2ᵀ W_1 z for z [P, D²]."""
        if not isinstance(z, torch.Tensor) or z.ndim != 2 or z.shape[1] != self.D * self.D:
            raise ValueError(f"z must be a tensor [P, D²] with D² = {self.D * self.D}")
        return (z @ self.W1.T) @ self.w2

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """ŷ_q [P] for tokens [P, N+1, D+1]."""
        return self.predict_features(self.features(tokens))

    def predict_gram(self, S: torch.Tensor, xq: torch.Tensor, N) -> torch.Tensor:
        """ŷ_q [P] from the Gram matrix S [P, D+1, D+1] and x̃_q [P, D+1] (same interface as the attention)."""
        return self.predict_features(self.features_gram(S, xq, N))

    # -- sufficient statistics of the full-batch loss (same interface as the attention models) ----------------
    def _moment_key(self) -> tuple:
        return (type(self).__name__, self.D, self.normalize_by_N)

    def gram_moments(self, S: torch.Tensor, xq: torch.Tensor, y: torch.Tensor, N, chunk_size=8192) -> dict:
        """Float64 moments such that ``loss_moments`` = mse(predict_gram(S, xq, N), y): ŷ = β M x_q reads only
        the y-row of S, a special case of the attention readout, so the same features serve."""
        check_gram(S, xq, self.D)
        N = count("N", N)
        if not isinstance(y, torch.Tensor) or y.shape != (S.shape[0],):
            raise ValueError(f"y must be a tensor of shape ({S.shape[0]},)")
        scale = 1.0 / N if self.normalize_by_N else 1.0

        def rows(lo, hi):
            return cubic_gram_features(S[lo:hi].to(torch.float64), xq[lo:hi].to(torch.float64)) * scale

        mom = second_moments(rows, y, S.shape[0], chunk_size)
        mom["key"] = self._moment_key()
        return mom

    def loss_moments(self, mom: dict) -> torch.Tensor:
        """Full-batch un-halved MSE (float64 scalar) from ``gram_moments``."""
        if mom.get("key") != self._moment_key():
            raise ValueError(f"mom was built for {mom.get('key')}, not for this model {self._moment_key()}")
        D = self.D
        M = (self.w2 @ self.W1).reshape(D, D).T  # M[b, c]: coefficient of β_b x_q,c (column-major vec)
        W = torch.nn.functional.pad(M, (0, 1, 0, 1))[None]  # as one head whose value row reads y only
        return quadratic_loss(cubic_gram_coefficients(self.y_row.to(M.dtype), W), mom)

    def effective_matrix(self, N=None) -> torch.Tensor:
        """M [D, D] with ŷ_q = βᵀ M x_q, β = (1/N) Σ y_n x_n: Σ_i w_2i unvec(W_1 row i) (×N in official
        units, which need ``N``)."""
        M = (self.w2.detach() @ self.W1.detach()).reshape(self.D, self.D).T  # unvec, column-major
        if self.normalize_by_N:
            return M
        if N is None:
            raise ValueError("N is required for effective_matrix when normalize_by_N is False")
        return M * count("N", N)


@torch.no_grad()
def attn_m_to_mlp(attn_m: AttnM) -> CubicMLP:
    """The CubicMLP computing the same function as ``attn_m`` (§3.3, Eqs. 6–7; claim #6).

    W_1 row i = vec(U_i)ᵀ (column-major), w_2 = v. Exact only while a_i = 0 and u_i = 0, so they must be 0;
    train the attention with ``freeze_zero_init=True`` to keep both networks equal under GD.
    """
    if not isinstance(attn_m, AttnM):
        raise ValueError(f"attn_m must be an AttnM, got {type(attn_m).__name__}")
    if attn_m.varying_length and not attn_m.normalize_by_N:
        raise ValueError("attn_m must not use varying_length in official units (its divisor is N+1, not 1)")
    D = attn_m.D
    if torch.any(attn_m.value_row()[:, :D] != 0) or torch.any(attn_m.kq()[:, D, :D] != 0):
        raise ValueError("attn_m must have a_i = 0 and u_i = 0 for an exact MLP mapping")
    mlp = CubicMLP(D, attn_m.H, 0.0, attn_m.normalize_by_N).to(attn_m.W_KQ)
    U = attn_m.U()
    mlp.W1.copy_(U.transpose(1, 2).reshape(attn_m.H, D * D))
    mlp.w2.copy_(attn_m.head_values())
    return mlp
