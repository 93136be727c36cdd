"""Single-layer multi-head linear attention for in-context regression (icl_linear_attention.md §3).

``AttnM`` (merged key-query, §3.1) and ``AttnS`` (separate rank-R key and query, §3.2):

    ATTN(X) = X + Σ_i (1/ρ) W^V_i X Xᵀ W^KQ_i X,      W^KQ_i = W^K_iᵀ W^Q_i for AttnS,

with tokens as the columns of X [(D+1), (N+1)] (here the rows of ``tokens`` [P, N+1, D+1]). The score of key
token i for query token j is x̃_iᵀ W^KQ x̃_j; sums run over all N+1 tokens including the query; no mask, no
positional encoding. The prediction is the y coordinate of the last (query) position.

Only the last row of each value matrix, (a_iᵀ, v_i), reaches the y coordinate, so it is the only value
parameter (``value`` [H, D+1]); the other rows never affect ŷ and have zero gradient.

Normalization ρ (§1.2, §3.4): ``normalize_by_N=True`` (paper units) ρ = N, the number of context pairs;
``False`` (official-code units) ρ = 1. With ``varying_length=True`` a prefix of n tokens (n-1 context pairs
plus its query) uses ρ = n-1 (paper) or ρ = n (official code, which counts the query).

Three evaluations of the same function:
- ``forward(tokens)``: the faithful full-sequence computation (all positions, all scores);
- ``predict_gram(S, xq, N)``: the exact fast path of §3.7 from S = XXᵀ and x̃_q:
  ŷ = (1/ρ) Σ_i (a_i, v_i) S W^KQ_i x̃_q. With C_abc = Σ_i value_ia W^KQ_ibc the step costs
  O(P (D+1)³) for any H, and S is computed once per dataset;
- ``gram_moments`` + ``loss_moments``: the same full-batch MSE as a quadratic form in the O((D+1)²D)
  coefficients of ŷ, so after one pass over the data a GD step no longer depends on P.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from theory._validate import count

INIT_SCHEMES = ("paper", "dec2025")


# ----------------------------------------------------------------------------------------------------------
# shared helpers (also used by the softmax and MLP models)
# ----------------------------------------------------------------------------------------------------------


def check_init(init) -> float:
    init = float(init)
    if not (math.isfinite(init) and init >= 0.0):
        raise ValueError(f"init must be a finite number >= 0, got {init!r}")
    return init


def normal(shape, std: float, generator) -> torch.Tensor:
    """N(0, std²) float32 draw on the CPU (one stream per model, so a seed gives the same weights anywhere)."""
    return torch.randn(*shape, generator=generator, dtype=torch.float32) * std


def make_generator(seed) -> torch.Generator | None:
    if seed is None:
        return None
    return torch.Generator().manual_seed(count("seed", seed, minimum=0))


def check_tokens(tokens, D: int) -> int:
    """Validate tokens [P, N+1, D+1] and return N."""
    if not isinstance(tokens, torch.Tensor) or tokens.ndim != 3 or tokens.shape[2] != D + 1:
        shape = tuple(tokens.shape) if isinstance(tokens, torch.Tensor) else type(tokens).__name__
        raise ValueError(f"tokens must be a tensor [P, N+1, D+1] with D+1 = {D + 1}, got {shape}")
    if tokens.shape[1] < 2:
        raise ValueError(f"tokens must hold N >= 1 context pairs plus the query, got {tokens.shape[1]} tokens")
    return tokens.shape[1] - 1


def attn_m_init(D: int, H: int, init: float, generator):
    """Official ATTN_M init (§3.6): every entry N(0, init²); u_i and a_i then set to 0."""
    W_KQ = normal((H, D + 1, D + 1), init, generator)
    value = normal((H, D + 1), init, generator)
    W_KQ[:, D, :D] = 0.0
    value[:, :D] = 0.0
    return W_KQ, value


def attn_s_init(D: int, H: int, R: int, init: float, init_scheme: str, generator):
    """ATTN_S init (§3.6); b_{i,r} and a_i set to 0.

    ``"paper"`` (paper era, package default): key/query entries N(0, init²/(R(D+1))), value N(0, init²).
    ``"dec2025"``: key/query std init/√(HR(D+1)), value std init/√(H(D+1)²).
    """
    if init_scheme == "paper":
        kq_std, v_std = init / math.sqrt(R * (D + 1)), init
    elif init_scheme == "dec2025":
        kq_std, v_std = init / math.sqrt(H * R * (D + 1)), init / math.sqrt(H * (D + 1) ** 2)
    else:
        raise ValueError(f"init_scheme must be one of {INIT_SCHEMES}, got {init_scheme!r}")
    W_K = normal((H, R, D + 1), kq_std, generator)
    W_Q = normal((H, R, D + 1), kq_std, generator)
    value = normal((H, D + 1), v_std, generator)
    W_K[:, :, D] = 0.0
    value[:, :D] = 0.0
    return W_K, W_Q, value


def gram_readout(S: torch.Tensor, xq: torch.Tensor, value: torch.Tensor, W_KQ: torch.Tensor) -> torch.Tensor:
    """Σ_i value_iᵀ S W^KQ_i x̃_q per sequence, [B] from S [B, D+1, D+1], xq [B, D+1] (§3.7).

    Contracting the heads first (C_abc = Σ_i value_ia W^KQ_ibc) leaves two GEMMs whose size does not grow
    with H.
    """
    Dp1 = S.shape[-1]
    C = torch.einsum("ha,hbc->abc", value, W_KQ).reshape(Dp1 * Dp1, Dp1)
    return ((S.reshape(-1, Dp1 * Dp1) @ C) * xq).sum(-1)


def second_moments(features, y: torch.Tensor, n_rows: int, chunk_size: int = 8192) -> dict:
    """Float64 second moments of a linear-in-parameters regression, accumulated in chunks.

    ``features(lo, hi)`` returns the rows [hi-lo, K] of the feature matrix F. Returns A = FᵀF/B [K, K],
    b = Fᵀy/B [K], yy = mean(y²) and B = n_rows, so that mean((F c − y)²) = cᵀAc − 2bᵀc + yy for every c.
    """
    A = b = None
    yy = 0.0
    for lo in range(0, n_rows, chunk_size):
        hi = min(lo + chunk_size, n_rows)
        F = features(lo, hi).to(torch.float64)
        yc = y[lo:hi].to(torch.float64)
        A = F.T @ F if A is None else A + F.T @ F
        b = F.T @ yc if b is None else b + F.T @ yc
        yy += float(yc.square().sum())
    return {"A": A / n_rows, "b": b / n_rows, "yy": yy / n_rows, "B": n_rows}


def quadratic_loss(c: torch.Tensor, mom: dict) -> torch.Tensor:
    """mean((F c − y)²) = cᵀAc − 2bᵀc + yy in float64 from ``second_moments`` (gradient flows into c)."""
    c = c.to(torch.float64)
    return c @ (mom["A"] @ c) - 2.0 * (mom["b"] @ c) + mom["yy"]


def sym_pairs(Dp1: int, device=None):
    """Index pairs a <= b of a symmetric [Dp1, Dp1] matrix (row-major upper triangle)."""
    return torch.triu_indices(Dp1, Dp1, device=device)


def cubic_gram_features(S: torch.Tensor, xq: torch.Tensor) -> torch.Tensor:
    """f[(a<=b), c] = S_ab x_{q,c} [B, (D+1)(D+2)/2 · D]: ŷ is linear in f because S is symmetric and the
    query's y entry is 0 (§3.7)."""
    Dp1 = S.shape[-1]
    ia, ib = sym_pairs(Dp1, S.device)
    return (S[:, ia, ib][:, :, None] * xq[:, None, : Dp1 - 1]).reshape(S.shape[0], -1)


def cubic_gram_coefficients(value: torch.Tensor, W_KQ: torch.Tensor) -> torch.Tensor:
    """Coefficients c with Σ_i value_iᵀ S W^KQ_i x̃_q = f · c for the features of ``cubic_gram_features``."""
    Dp1 = W_KQ.shape[-1]
    C = torch.einsum("ha,hbc->abc", value, W_KQ[:, :, : Dp1 - 1])
    ia, ib = sym_pairs(Dp1, C.device)
    # S_ab = S_ba: an off-diagonal pair collects C_abc + C_bac, a diagonal one C_aac once.
    weight = torch.where(ia == ib, 0.5, 1.0).to(C.dtype)[:, None]
    return ((C + C.transpose(0, 1))[ia, ib] * weight).reshape(-1)


def check_gram(S, xq, D: int) -> None:
    if not isinstance(S, torch.Tensor) or S.ndim != 3 or S.shape[1:] != (D + 1, D + 1):
        raise ValueError(f"S must be a tensor [P, D+1, D+1] with D+1 = {D + 1}")
    if not isinstance(xq, torch.Tensor) or xq.shape != (S.shape[0], D + 1):
        raise ValueError(f"xq must be a tensor [P, D+1] = [{S.shape[0]}, {D + 1}]")


class MergedHeads(nn.Module):
    """Parameters of H merged key-query heads: W^KQ_i [D+1, D+1] and value rows (a_i, v_i) (§3.1, §3.6).

    ``freeze_zero_init=True`` keeps u_i (last row of the first D columns of W^KQ_i) and a_i at exactly 0."""

    def _init_heads(self, D, H, init, freeze_zero_init: bool, seed) -> None:
        self.D, self.H = count("D", D), count("H", H)
        self.freeze_zero_init = bool(freeze_zero_init)
        W_KQ, value = attn_m_init(self.D, self.H, check_init(init), make_generator(seed))
        self.W_KQ = nn.Parameter(W_KQ)  # paper's W^KQ_i (the official merged matrix is its transpose)
        self.value = nn.Parameter(value)  # last row of W^V_i: (a_i, v_i)
        kq_mask = torch.ones(self.D + 1, self.D + 1)
        kq_mask[self.D, : self.D] = 0.0
        v_mask = torch.ones(self.D + 1)
        v_mask[: self.D] = 0.0
        self.register_buffer("kq_mask", kq_mask)
        self.register_buffer("value_mask", v_mask)

    def kq(self) -> torch.Tensor:
        return self.W_KQ * self.kq_mask if self.freeze_zero_init else self.W_KQ

    def value_row(self) -> torch.Tensor:
        return self.value * self.value_mask if self.freeze_zero_init else self.value


class SeparateHeads(nn.Module):
    """Parameters of H heads with separate W^K_i, W^Q_i [R, D+1] and value rows (a_i, v_i) (§3.2, §3.6).

    ``freeze_zero_init=True`` keeps b_{i,r} (the y-column of W^K_i) and a_i at exactly 0."""

    def _init_heads(self, D, H, R, init, init_scheme: str, freeze_zero_init: bool, seed) -> None:
        self.D, self.H, self.R = count("D", D), count("H", H), count("R", R)
        self.freeze_zero_init = bool(freeze_zero_init)
        self.init_scheme = init_scheme
        W_K, W_Q, value = attn_s_init(self.D, self.H, self.R, check_init(init), init_scheme,
                                      make_generator(seed))
        self.W_K = nn.Parameter(W_K)
        self.W_Q = nn.Parameter(W_Q)
        self.value = nn.Parameter(value)
        k_mask = torch.ones(self.D + 1)
        k_mask[self.D] = 0.0
        v_mask = torch.ones(self.D + 1)
        v_mask[: self.D] = 0.0
        self.register_buffer("key_mask", k_mask)
        self.register_buffer("value_mask", v_mask)

    def key_weights(self) -> torch.Tensor:
        return self.W_K * self.key_mask if self.freeze_zero_init else self.W_K

    def value_row(self) -> torch.Tensor:
        return self.value * self.value_mask if self.freeze_zero_init else self.value

    def keys(self) -> torch.Tensor:
        """k_{i,r} [H, R, D] (x-parts of the key rows)."""
        return self.key_weights()[:, :, : self.D].detach()

    def queries(self) -> torch.Tensor:
        """q_{i,r} [H, R, D] (x-parts of the query rows)."""
        return self.W_Q[:, :, : self.D].detach()


class _LinearAttention(nn.Module):
    """Shared forward logic; subclasses provide ``kq()`` [H, D+1, D+1], ``scores`` and ``value_row()``."""

    D: int
    H: int
    normalize_by_N: bool
    varying_length: bool

    # -- normalization --------------------------------------------------------------------------------
    def rho(self, n_tokens):
        """Divisor ρ for a sequence (or prefix) of ``n_tokens`` tokens, query included (§1.2, §3.4)."""
        if self.normalize_by_N:
            return n_tokens - 1
        return n_tokens if self.varying_length else 1

    # -- faithful path --------------------------------------------------------------------------------
    def output_y(self, tokens: torch.Tensor) -> torch.Tensor:
        """y coordinate of ATTN(X) at every position [P, T] for tokens [P, T, D+1] (no mask)."""
        T = tokens.shape[1]
        scores = self.scores(tokens)  # [P, H, key i, query j]
        values = torch.einsum("hd,pid->phi", self.value_row(), tokens)  # y-row of W^V_h x̃_i
        return tokens[..., -1] + torch.einsum("phi,phij->pj", values, scores) / self.rho(T)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Faithful full-sequence forward; ŷ_q [P] = y coordinate of the last position (§3.5)."""
        check_tokens(tokens, self.D)
        return self.output_y(tokens)[:, -1]

    # -- fast path ------------------------------------------------------------------------------------
    def predict_gram(self, S: torch.Tensor, xq: torch.Tensor, N) -> torch.Tensor:
        """Exact fast path (§3.7): ŷ_q [P] from S = XXᵀ [P, D+1, D+1] and x̃_q [P, D+1] for N context pairs."""
        check_gram(S, xq, self.D)
        N = count("N", N)
        return gram_readout(S, xq, self.value_row(), self.kq()) / self.rho(N + 1)

    # -- sufficient statistics of the full-batch loss -----------------------------------------------
    def _moment_key(self) -> tuple:
        return (type(self).__name__, self.D, self.normalize_by_N, self.varying_length)

    def gram_moments(self, S: torch.Tensor, xq: torch.Tensor, y: torch.Tensor, N, chunk_size=8192) -> dict:
        """Float64 moments of a fixed dataset such that ``loss_moments`` = mse(predict_gram(S, xq, N), y).

        ŷ is linear in the coefficients of ``cubic_gram_features`` (K = (D+1)(D+2)/2 · D of them), so the
        full-batch MSE is a quadratic form in them: after this one O(P K²) pass a GD step costs O(K²),
        independent of P (same loss, same gradient; an exact rewriting, not an approximation).
        """
        check_gram(S, xq, self.D)
        N = count("N", N)
        if not isinstance(y, torch.Tensor) or y.shape != (S.shape[0],):
            raise ValueError(f"y must be a tensor of shape ({S.shape[0]},)")
        scale = 1.0 / self.rho(N + 1)

        def rows(lo, hi):
            return cubic_gram_features(S[lo:hi].to(torch.float64), xq[lo:hi].to(torch.float64)) * scale

        mom = second_moments(rows, y, S.shape[0], chunk_size)
        mom["key"] = self._moment_key()
        return mom

    def prefix_moments(self, prefix: dict, chunk_size=8192) -> dict:
        """Moments of the varying-length loss from ``verify.tasks.icl.prefix_grams`` (every prefix of every
        sequence is one row, scaled by its own 1/ρ_n)."""
        S, xq, target = prefix["S"], prefix["xq"], prefix["target"]
        P, N = S.shape[:2]
        n = torch.arange(2, N + 2, device=S.device, dtype=torch.float64)
        scale = (1.0 / torch.as_tensor(self.rho(n), dtype=torch.float64)).expand(N).repeat(P)
        S2, xq2 = S.reshape(P * N, self.D + 1, self.D + 1), xq.reshape(P * N, self.D + 1)

        def rows(lo, hi):
            f = cubic_gram_features(S2[lo:hi].to(torch.float64), xq2[lo:hi].to(torch.float64))
            return f * scale[lo:hi, None]

        mom = second_moments(rows, target.reshape(-1), P * N, chunk_size)
        mom["key"] = self._moment_key()
        return mom

    def loss_moments(self, mom: dict) -> torch.Tensor:
        """Full-batch un-halved MSE (float64 scalar) from ``gram_moments`` / ``prefix_moments``."""
        if mom.get("key") != self._moment_key():
            raise ValueError(f"mom was built for {mom.get('key')}, not for this model {self._moment_key()}")
        return quadratic_loss(cubic_gram_coefficients(self.value_row(), self.kq()), mom)

    # -- varying length (§3.4) ------------------------------------------------------------------------
    def predict_prefixes(self, tokens: torch.Tensor, y: torch.Tensor):
        """Faithful varying-length predictions: for each prefix n = 2..N+1 run the model on its first n tokens
        with the n-th token's y zeroed. Returns (pred [P, N], target [P, N]); column k is prefix n = k+2."""
        N = check_tokens(tokens, self.D)
        if not isinstance(y, torch.Tensor) or y.shape != (tokens.shape[0],):
            raise ValueError(f"y must be a tensor of shape ({tokens.shape[0]},)")
        preds = []
        for n in range(2, N + 2):
            prefix = tokens[:, :n].clone()
            prefix[:, -1, -1] = 0.0
            preds.append(self.output_y(prefix)[:, -1])
        target = torch.cat([tokens[:, 1:N, -1], y[:, None]], dim=1)
        return torch.stack(preds, dim=1), target

    def predict_prefixes_gram(self, S: torch.Tensor, xq: torch.Tensor) -> torch.Tensor:
        """Fast varying-length predictions [P, N] from ``verify.tasks.icl.prefix_grams`` (S [P, N, D+1, D+1],
        xq [P, N, D+1]); the targets are that function's ``target``."""
        if not isinstance(S, torch.Tensor) or S.ndim != 4 or S.shape[2:] != (self.D + 1, self.D + 1):
            raise ValueError(f"S must be a tensor [P, N, D+1, D+1] with D+1 = {self.D + 1}")
        if not isinstance(xq, torch.Tensor) or xq.shape != S.shape[:3]:
            raise ValueError(f"xq must be a tensor [P, N, D+1] matching S, got {tuple(xq.shape)}")
        P, N = S.shape[:2]
        raw = gram_readout(S.reshape(P * N, self.D + 1, self.D + 1), xq.reshape(P * N, -1),
                           self.value_row(), self.kq()).reshape(P, N)
        n = torch.arange(2, N + 2, device=S.device, dtype=S.dtype)
        return raw / self.rho(n)

    # -- accessors ------------------------------------------------------------------------------------
    def head_values(self) -> torch.Tensor:
        """v_i [H], the y-part of each value row."""
        return self.value_row()[:, self.D].detach()

    def U(self) -> torch.Tensor:
        """U_i [H, D, D], the x-block of W^KQ_i (AttnS: Σ_r k_{i,r} q_{i,r}ᵀ)."""
        return self.kq()[:, : self.D, : self.D].detach()

    def effective_matrix(self, N) -> torch.Tensor:
        """M [D, D] such that the bilinear part of the prediction is ŷ_q = βᵀ M x_q, β = (1/N) Σ_n y_n x_n.

        M = (N/ρ) Σ_i v_i U_i: Σ_i v_i U_i in paper units, N Σ_i v_i U_i in official-code units (§1.2), with ρ
        the full-sequence divisor. Exact when a_i and u_i (AttnS: b_{i,r}) are 0; otherwise their terms are
        not of this form and are left out.
        """
        N = count("N", N)
        M = torch.einsum("h,hij->ij", self.head_values(), self.U())
        return M * (N / self.rho(N + 1))


class AttnM(_LinearAttention, MergedHeads):
    """ATTN_M: H heads with free W^KQ_i [D+1, D+1] and value rows (a_i, v_i) (§3.1).

    ``init``: official init, every entry N(0, init²) then u_i (last row of the first D columns of W^KQ_i) and
    a_i set to 0 (§3.6). ``freeze_zero_init=True`` keeps u_i and a_i at exactly 0 during training (the
    population invariance of §3.1; needed for the exact MLP equivalence under finite-sample GD). ``seed``
    draws the weights from a private generator (None: torch's global RNG).
    """

    def __init__(self, D, H, init, normalize_by_N: bool = True, *, varying_length: bool = False,
                 freeze_zero_init: bool = False, seed=None):
        super().__init__()
        self._init_heads(D, H, init, freeze_zero_init, seed)
        self.normalize_by_N, self.varying_length = bool(normalize_by_N), bool(varying_length)

    def scores(self, tokens: torch.Tensor) -> torch.Tensor:
        """Scores x̃_iᵀ W^KQ_h x̃_j [P, H, key i, query j]."""
        return torch.einsum("pid,hde,pje->phij", tokens, self.kq(), tokens)

    @torch.no_grad()
    def aligned_balanced_init(self, w_init, v_direction=None) -> "AttnM":
        """Set U_i = v_i I/√D, ‖v‖ = w_init, everything else 0 (§5.4; in place, returns self).

        Then ‖U_i‖_F = |v_i| (balanced) and M = w_init² I/√D, the initial condition under which Eq. 10 is exact.
        ``v_direction`` [H] (default all ones) sets the direction of v.
        """
        w_init = check_init(w_init)
        d = torch.ones(self.H, dtype=torch.float64) if v_direction is None else torch.as_tensor(
            v_direction, dtype=torch.float64).flatten()
        if d.shape != (self.H,) or not torch.isfinite(d).all() or float(d.norm()) == 0.0:
            raise ValueError(f"v_direction must be a finite nonzero vector of shape ({self.H},)")
        v = (w_init * d / d.norm()).to(self.W_KQ)
        self.W_KQ.zero_()
        self.value.zero_()
        self.value[:, self.D] = v
        eye = torch.eye(self.D, dtype=self.W_KQ.dtype, device=self.W_KQ.device)
        self.W_KQ[:, : self.D, : self.D] = v[:, None, None] * eye / math.sqrt(self.D)
        return self


class AttnS(_LinearAttention, SeparateHeads):
    """ATTN_S: H heads with rank-R key and query W^K_i, W^Q_i [R, D+1] and value rows (a_i, v_i) (§3.2).

    Row r of W^K_i is (k_{i,r}ᵀ, b_{i,r}), row r of W^Q_i is (q_{i,r}ᵀ, *). ``init_scheme`` "paper" (default,
    paper era) or "dec2025" (§3.6); b_{i,r} and a_i start at 0 and ``freeze_zero_init=True`` keeps them there.
    """

    def __init__(self, D, H, R, init, init_scheme: str = "paper", normalize_by_N: bool = True, *,
                 varying_length: bool = False, freeze_zero_init: bool = False, seed=None):
        super().__init__()
        self._init_heads(D, H, R, init, init_scheme, freeze_zero_init, seed)
        self.normalize_by_N, self.varying_length = bool(normalize_by_N), bool(varying_length)

    def kq(self) -> torch.Tensor:
        """W^KQ_i = W^K_iᵀ W^Q_i [H, D+1, D+1]."""
        return torch.einsum("hrb,hrc->hbc", self.key_weights(), self.W_Q)

    def scores(self, tokens: torch.Tensor) -> torch.Tensor:
        """Scores (W^K_h x̃_i)·(W^Q_h x̃_j) [P, H, key i, query j]."""
        keys = torch.einsum("hrd,pid->phir", self.key_weights(), tokens)
        queries = torch.einsum("hrd,pjd->phjr", self.W_Q, tokens)
        return keys @ queries.transpose(-1, -2)
