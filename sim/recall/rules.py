"""Reference recurrences of the linear-memory update rules (test_time_memory.md §2.3, §3), M-orientation.

Every function takes q, k [..., T, d_k], v [..., T, d_v] (any leading batch dimensions, float64) and per-token
gates that broadcast to [..., T], runs the token loop of its rule on each sequence independently and returns the
outputs o [..., T, d_v], o_t = M_t q_t read **after** the write of token t. The memory starts at
``initial_state`` (default zeros; Memora c/n per slice) and ``return_state=True`` returns ``(o, state)``.

Prediction error ``e_t = M_{t−1} k_t − v_t``; ℓ2 = ½‖Mk − v‖² so ∇ℓ2 = e kᵀ (Titans uses ‖Mk − v‖², factor 2).
The package does not normalise keys or queries: delta-family layers pass L2-normalised q, k (§ conventions).
``sim.recall.naive`` holds float64 references with the same signatures.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from sim.recall import _inputs as inp
from sim.recall import kernels as K

MEMORA_AXES = {"row": K.SLICE_ROW, "column": K.SLICE_COLUMN, "matrix": K.SLICE_MATRIX}


class _Prepared(NamedTuple):
    """A validated call: sequences, rule code, gates g [B, T, n_g], rule constants par [4], state kind."""

    seq: inp.Sequences
    rule: int
    g: np.ndarray
    par: np.ndarray
    kind: str  # "M", "titans" (M, S), "moneta" (A -> (W, A)), "memora" (positive M)


def _gates(seq, *cols):
    g = np.stack(cols, axis=-1) if cols else np.empty((seq.B, seq.T, 0))
    return inp.writable(g)


def _par(*values):
    par = np.zeros(4)
    par[: len(values)] = values
    return par


def _run(kernel, prep: _Prepared, initial_state, return_state):
    """Allocate, fill the initial state, call ``kernel`` and restore the caller's shapes."""
    seq = prep.seq
    shape = (seq.d_v, seq.d_k)
    S = np.zeros((seq.B,) + shape)
    if prep.kind == "titans":
        if initial_state is None:
            M = np.zeros((seq.B,) + shape)
        else:
            if not isinstance(initial_state, (tuple, list)) or len(initial_state) != 2:
                raise ValueError("initial_state must be a pair (M_0, S_0) of [..., d_v, d_k] arrays for titans")
            M = inp.state("initial_state[0] (M_0)", initial_state[0], seq, shape)
            S = inp.state("initial_state[1] (S_0)", initial_state[1], seq, shape)
    elif prep.kind == "moneta":
        M = np.zeros((seq.B,) + shape)
        if initial_state is not None:
            S = inp.state("initial_state (A_0)", initial_state, seq, shape)
    elif prep.kind == "memora" and initial_state is None:
        c, axis = prep.par[0], int(prep.par[1])
        n = {K.SLICE_ROW: seq.d_k, K.SLICE_COLUMN: seq.d_v, K.SLICE_MATRIX: seq.d_k * seq.d_v}[axis]
        M = np.full((seq.B,) + shape, c / n)
    elif initial_state is None:
        M = np.zeros((seq.B,) + shape)
    else:
        M = inp.state("initial_state", initial_state, seq, shape, positive=prep.kind == "memora")
    o = np.full((seq.B, seq.T, seq.d_v), np.nan)
    kernel(prep.rule, seq.q, seq.k, seq.v, prep.g, prep.par, M, S, o)
    out = inp.restore(o, seq.lead, (seq.T, seq.d_v))
    if not return_state:
        return out
    Mo = inp.restore(M, seq.lead, shape)
    if prep.kind in ("titans", "moneta"):
        return out, (Mo, inp.restore(S, seq.lead, shape))
    return out, Mo


# ----------------------------------------------------------------------------------------------------------------
# validated inputs of each rule (shared with sim.recall.naive)


def _linear_attention(q, k, v):
    seq = inp.sequences(q, k, v)
    return _Prepared(seq, K.LA, _gates(seq), _par(), "M")


def _gated_linear_attention(q, k, v, gamma, beta):
    seq = inp.sequences(q, k, v)
    g = _gates(seq, inp.gate("gamma", gamma, seq, 0.0, 1.0), inp.gate("beta", beta, seq, 0.0))
    return _Prepared(seq, K.GLA, g, _par(), "M")


def _gated_linear_attention_channel(q, k, v, a):
    seq = inp.sequences(q, k, v)
    return _Prepared(seq, K.GLA_CHANNEL, inp.channel_gate("a", a, seq, 0.0, 1.0), _par(), "M")


def _delta_rule(q, k, v, beta):
    seq = inp.sequences(q, k, v)
    return _Prepared(seq, K.DELTA, _gates(seq, inp.gate("beta", beta, seq, 0.0, 1.0)), _par(), "M")


def _gated_delta_rule(q, k, v, alpha, beta):
    seq = inp.sequences(q, k, v)
    g = _gates(seq, inp.gate("alpha", alpha, seq, 0.0, 1.0), inp.gate("beta", beta, seq, 0.0, 1.0))
    return _Prepared(seq, K.GDN, g, _par(), "M")


def _miras_gated_delta_rule(q, k, v, alpha, beta):
    seq = inp.sequences(q, k, v)
    g = _gates(seq, inp.gate("alpha", alpha, seq, 0.0, 1.0), inp.gate("beta", beta, seq, 0.0))
    return _Prepared(seq, K.MIRAS_DELTA, g, _par(), "M")


def _longhorn(q, k, v, beta):
    seq = inp.sequences(q, k, v)
    return _Prepared(seq, K.LONGHORN, _gates(seq, inp.gate("beta", beta, seq, 0.0)), _par(), "M")


def _titans(q, k, v, alpha, eta, theta):
    seq = inp.sequences(q, k, v)
    g = _gates(seq, inp.gate("alpha", alpha, seq, 0.0, 1.0), inp.gate("eta", eta, seq, 0.0, 1.0),
               inp.gate("theta", theta, seq, 0.0))
    return _Prepared(seq, K.TITANS, g, _par(), "titans")


def _moneta(q, k, v, alpha, eta, p, q_norm, retention_map):
    seq = inp.sequences(q, k, v)
    g = _gates(seq, inp.gate("alpha", alpha, seq, 0.0, 1.0), inp.gate("eta", eta, seq, 0.0))
    p = float(inp.in_range("p", np.asarray(p, dtype=float), 1.0))
    q_norm = float(inp.in_range("q_norm", np.asarray(q_norm, dtype=float), 1.0, lo_open=True))
    mirror = inp.choice("retention_map", retention_map, ("stated", "mirror")) == "mirror"
    return _Prepared(seq, K.MONETA, g, _par(p, q_norm, float(mirror)), "moneta")


def _yaad(q, k, v, alpha, eta, delta, huber):
    seq = inp.sequences(q, k, v)
    g = _gates(seq, inp.gate("alpha", alpha, seq, 0.0, 1.0), inp.gate("eta", eta, seq, 0.0),
               inp.gate("delta", delta, seq, 0.0, lo_open=True, allow_inf=True))
    normwise = inp.choice("huber", huber, ("coordinate", "norm")) == "norm"
    return _Prepared(seq, K.YAAD, g, _par(float(normwise)), "M")


def _memora(q, k, v, alpha, eta, c, axis):
    seq = inp.sequences(q, k, v)
    g = _gates(seq, inp.gate("alpha", alpha, seq, 0.0, 1.0), inp.gate("eta", eta, seq, 0.0))
    c = inp.positive_scalar("c", c)
    axis = MEMORA_AXES[inp.choice("axis", axis, tuple(MEMORA_AXES))]
    return _Prepared(seq, K.MEMORA, g, _par(c, float(axis)), "memora")


# ----------------------------------------------------------------------------------------------------------------
# public rules


def linear_attention(q, k, v, initial_state=None, return_state=False):
    """Linear attention (§3): ``M_t = M_{t−1} + v_t k_tᵀ``, ``o_t = M_t q_t``.

    q, k [..., T, d_k], v [..., T, d_v]; initial_state M_0 [..., d_v, d_k]. Returns o [..., T, d_v]
    (and M_T with ``return_state``).
    """
    return _run(K.recurrent_kernel, _linear_attention(q, k, v), initial_state, return_state)


def gated_linear_attention(q, k, v, gamma, beta=1.0, initial_state=None, return_state=False):
    """Gated LA with a scalar gate (RetNet, Mamba2/SSD; §2.3(b), §3): ``M_t = γ_t M_{t−1} + β_t v_t k_tᵀ``.

    gamma in [0, 1] and the input gate beta >= 0, both broadcast to [..., T]. β = 1 is RetNet/GLA-scalar;
    β = Δ_t is Mamba2; (γ, β) of Mesa give its G_t recurrence (§4.1). Returns o [..., T, d_v].
    """
    return _run(K.recurrent_kernel, _gated_linear_attention(q, k, v, gamma, beta), initial_state, return_state)


def gated_linear_attention_channel(q, k, v, a, initial_state=None, return_state=False):
    """GLA with per-channel decay (§3): ``M_t = M_{t−1} Diag(a_t) + v_t k_tᵀ``, a [..., T, d_k] in [0, 1]."""
    return _run(K.recurrent_kernel, _gated_linear_attention_channel(q, k, v, a), initial_state, return_state)


def delta_rule(q, k, v, beta, initial_state=None, return_state=False):
    """DeltaNet (§3, fla ``delta_rule_recurrence``): ``M_t = M_{t−1} − β_t e_t k_tᵀ``, e_t = M_{t−1}k_t − v_t.

    Equivalently ``M_{t−1}(I − β_t k_t k_tᵀ) + β_t v_t k_tᵀ``: one SGD step with rate β on ½‖Mk − v‖².
    beta in [0, 1] broadcast to [..., T]. Returns o [..., T, d_v].
    """
    return _run(K.recurrent_kernel, _delta_rule(q, k, v, beta), initial_state, return_state)


def gated_delta_rule(q, k, v, alpha, beta, initial_state=None, return_state=False):
    """Gated DeltaNet (§3, fla ``naive_recurrent_gated_delta_rule``): decay first, delta step on the decayed state,
    ``M_t = α_t M_{t−1}(I − β_t k_t k_tᵀ) + β_t v_t k_tᵀ``.

    alpha (the decay a_t) and beta in [0, 1], broadcast to [..., T]. Returns o [..., T, d_v].
    """
    return _run(K.recurrent_kernel, _gated_delta_rule(q, k, v, alpha, beta), initial_state, return_state)


def miras_gated_delta_rule(q, k, v, alpha, beta, initial_state=None, return_state=False):
    """Miras-gated delta (§2.3(b)): ``M_t = λ_t M_{t−1} − η'_t e_t k_tᵀ`` with the error on the **undecayed**
    state; here λ = alpha in [0, 1], η' = beta >= 0. ``GDN − this = β(1 − a) M_{t−1} k kᵀ`` per step (claim 3)."""
    return _run(K.recurrent_kernel, _miras_gated_delta_rule(q, k, v, alpha, beta), initial_state, return_state)


def longhorn(q, k, v, beta, initial_state=None, return_state=False):
    """Longhorn (§3.1): implicit step ``argmin ½‖M − M_{t−1}‖² + (β/2)‖Mk − v‖²``, in closed form
    ``M_t = M_{t−1} − ε_t e_t k_tᵀ``, ``ε_t = β_t/(1 + β_t‖k_t‖²)`` (exact form, no diagonal approximation).

    beta >= 0 broadcast to [..., T]. Returns o [..., T, d_v].
    """
    return _run(K.recurrent_kernel, _longhorn(q, k, v, beta), initial_state, return_state)


def titans(q, k, v, alpha, eta, theta, initial_state=None, return_state=False):
    """Titans with a linear memory (§2.3(h), §3): ``S_t = η_t S_{t−1} − θ_t ∇ℓ(M_{t−1})``,
    ``M_t = (1 − α_t) M_{t−1} + S_t``, ℓ = ‖Mk − v‖² (∇ℓ = 2 e kᵀ), per token (no chunked gradients).

    alpha, eta in [0, 1], theta >= 0, broadcast to [..., T]. State (M, S); initial_state a pair (M_0, S_0)
    (default zeros). Returns o [..., T, d_v] (and (M_T, S_T) with ``return_state``).
    """
    return _run(K.recurrent_kernel, _titans(q, k, v, alpha, eta, theta), initial_state, return_state)


def moneta(q, k, v, alpha, eta, p=3.0, q_norm=4.0, retention_map="stated", initial_state=None,
           return_state=False):
    """Moneta with a linear memory (§3.2): ``A_t = α_t A_{t−1} − η_t ∇ℓ_p(W_{t−1})``,
    ``∇ℓ_p = p (sign(e) ⊙ |e|^{p−1}) kᵀ`` (ℓ_p = ‖Wk − v‖_p^p), then W_t from A_t by

    - ``retention_map="stated"`` (the definition): ``W = A / ‖A‖_q^{q−2}`` (degree 3 − q in A);
    - ``retention_map="mirror"``: the exact inverse mirror map of ½‖W‖_q², ``W = sign(A)|A|^{q*−1}/‖A‖_{q*}^{q*−2}``,
      q* = q/(q − 1).

    ‖·‖ is entry-wise over the whole matrix; W = 0 where A = 0. alpha in [0, 1], eta >= 0 broadcast to [..., T];
    p >= 1, q_norm > 1 (defaults p = 3, q = 4). initial_state is the accumulator A_0 (W_0 = map(A_0)); the state
    returned with ``return_state`` is (W_T, A_T).
    """
    return _run(K.recurrent_kernel, _moneta(q, k, v, alpha, eta, p, q_norm, retention_map), initial_state,
                return_state)


def yaad(q, k, v, alpha, eta, delta, huber="coordinate", initial_state=None, return_state=False):
    """Yaad (§3.2): Huber bias with ℓ2 retention. ``‖e‖ ≤ δ_t``: ``W_t = α_t W_{t−1} − η_t e kᵀ``; otherwise
    ``huber="coordinate"`` (stated): ``α_t W_{t−1} − η_t δ_t sign(e) kᵀ``, ``huber="norm"``:
    ``α_t W_{t−1} − η_t δ_t e kᵀ/‖e‖``.

    alpha in [0, 1], eta >= 0, delta > 0 (inf: always the ℓ2 branch), broadcast to [..., T].
    """
    return _run(K.recurrent_kernel, _yaad(q, k, v, alpha, eta, delta, huber), initial_state, return_state)


def memora(q, k, v, alpha, eta, c=1.0, axis="matrix", initial_state=None, return_state=False):
    """Memora (§3.2): ``W_t = c·Softmax(α_t log W_{t−1} − η_t e kᵀ)`` over each slice, α_t = 1 − λ_t.

    axis: the slice that sums to c — ``"row"`` (each row, d_k entries), ``"column"`` (d_v entries) or
    ``"matrix"``. W stays strictly positive; the default W_0 = c/n per slice of n entries; an initial_state must
    be > 0. alpha in [0, 1], eta >= 0 broadcast to [..., T], c > 0.
    """
    return _run(K.recurrent_kernel, _memora(q, k, v, alpha, eta, c, axis), initial_state, return_state)
