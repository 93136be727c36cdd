"""Update rules of the ``recall`` topic in torch (test_time_memory.md §3): the torch twins of ``sim.recall``.

Pure functions on q, k [..., T, d_k], v [..., T, d_v] and per-token gates broadcast to [..., T] (per channel:
[..., T, d_k]), in M-orientation: memory M [..., d_v, d_k], o_t = M_t q_t read after the write of token t, error
e_t = M_{t−1} k_t − v_t. Same rules and argument order as ``sim.recall``, with one difference: multiplicative
decays of the rules that have a chunkwise form are passed in log space (``log_gamma``, ``log_a``, ``log_alpha``
<= 0), the form layers produce and the one that keeps chunked decay products finite.

- recurrences (token loop): ``linear_attention``, ``gated_linear_attention``, ``gated_linear_attention_channel``,
  ``delta_rule``, ``gated_delta_rule``, ``miras_gated_delta_rule``, ``longhorn``, ``titans``, ``titans_mlp``,
  ``moneta``, ``yaad``, ``memora``; plus causal ``softmax_attention``;
- chunkwise forms, equal to the recurrences: ``chunkwise_gated_linear_attention`` (LA with log γ = 0),
  ``chunkwise_gated_linear_attention_channel`` and ``chunkwise_delta_rule`` / ``chunkwise_gated_delta_rule``
  (UT form, §3.3). Chunked decays are exp(g_t − g_j) of within-chunk cumulative log gates, formed only for j <= t.

Public functions validate their inputs; the layers call the unvalidated ``_``-prefixed forms (their gates are in
range by construction, and a range check on a GPU tensor costs a device sync per call).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from theory._validate import count

MONETA_MAPS = ("stated", "mirror")
YAAD_HUBER = ("coordinate", "norm")
MEMORA_AXES = ("row", "column", "matrix")

# ----------------------------------------------------------------------------------------------------------------
# input validation of the public rules


def _sequences(q, k, v):
    for name, x in (("q", q), ("k", k), ("v", v)):
        if not isinstance(x, torch.Tensor) or x.ndim < 2 or not x.is_floating_point():
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name} must be a floating tensor [..., T, d], got {got}")
    if k.shape != q.shape:
        raise ValueError(f"k must have the shape of q [..., T, d_k] = {tuple(q.shape)}, got {tuple(k.shape)}")
    if v.shape[:-1] != q.shape[:-1]:
        raise ValueError(f"v must have shape [..., T, d_v] with [..., T] = {tuple(q.shape[:-1])}, "
                         f"got {tuple(v.shape)}")
    if k.dtype != q.dtype or v.dtype != q.dtype or k.device != q.device or v.device != q.device:
        raise ValueError("q, k and v must share one dtype and device")
    if min(q.shape[-2], q.shape[-1], v.shape[-1]) < 1:
        raise ValueError(f"T, d_k and d_v must be >= 1, got q {tuple(q.shape)}, v {tuple(v.shape)}")


def _gate(name, x, q, lo, hi=None, *, channel=False, lo_open=False, allow_inf=False):
    """A gate as a tensor broadcast to [..., T] (``channel``: [..., T, d_k]) after its range check; lo=None
    means no lower bound (log-space decays: hi = 0, and allow_inf admits −inf, a full reset)."""
    shape = q.shape if channel else q.shape[:-1]
    x = torch.as_tensor(x, dtype=q.dtype, device=q.device)
    try:
        x = torch.broadcast_to(x, shape)
    except RuntimeError:
        raise ValueError(f"{name} must broadcast to {tuple(shape)}, got shape {tuple(x.shape)}") from None
    if lo is None:
        ok = ~torch.isnan(x) & (x != math.inf) if allow_inf else torch.isfinite(x)
        text = f"<= {hi:g}"
    else:
        ok = ~torch.isnan(x) & (x != -math.inf) if allow_inf else torch.isfinite(x)
        ok &= (x > lo) if lo_open else (x >= lo)
        low = "(" if lo_open else "["
        text = f"in {low}{lo:g}, {hi:g}]" if hi is not None else (f"> {lo:g}" if lo_open else f">= {lo:g}")
    if hi is not None:
        ok &= x <= hi
    if not bool(ok.all()):
        raise ValueError(f"{name} must be {text}{' (inf allowed)' if allow_inf else ''}")
    return x


def _state(name, x, q, shape):
    full = tuple(q.shape[:-2]) + tuple(shape)
    try:
        x = torch.broadcast_to(torch.as_tensor(x, dtype=q.dtype, device=q.device), full)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"{name} must broadcast to {full}, got shape {tuple(x.shape)}") from None
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite")
    return x


def _initial(initial_state, q, shape):
    return None if initial_state is None else _state("initial_state", initial_state, q, shape)


def _choice(name, value, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def _real(name, x, lo, *, lo_open=False):
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {x!r}") from None
    if not math.isfinite(x) or x < lo or (lo_open and x == lo):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo:g}, got {x!r}")
    return x


def _outer(a, b):
    """a bᵀ for batches of vectors: a [..., m], b [..., n] -> [..., m, n]."""
    return a[..., :, None] * b[..., None, :]


def _read(M, x):
    """M x for M [..., m, n], x [..., n]."""
    return (M @ x[..., None])[..., 0]


def _zeros(q, v):
    return q.new_zeros(tuple(q.shape[:-2]) + (v.shape[-1], q.shape[-1]))


def _scan(q, k, v, M, step):
    """Token loop: M ← step(M, t); o_t = M_t q_t. Returns (o [..., T, d_v], M_T)."""
    out = []
    for t in range(q.shape[-2]):
        M = step(M, t)
        out.append(_read(M, q[..., t, :]))
    return torch.stack(out, dim=-2), M


def _ret(o, state, return_state):
    return (o, state) if return_state else o


# ----------------------------------------------------------------------------------------------------------------
# recurrences (reference forms)


def _gla(q, k, v, log_gamma, beta, M0):
    gamma = torch.exp(log_gamma)
    M = _zeros(q, v) if M0 is None else M0

    def step(M, t):
        return gamma[..., t, None, None] * M + beta[..., t, None, None] * _outer(v[..., t, :], k[..., t, :])

    return _scan(q, k, v, M, step)


def _gla_channel(q, k, v, log_a, M0):
    a = torch.exp(log_a)
    M = _zeros(q, v) if M0 is None else M0
    return _scan(q, k, v, M, lambda M, t: M * a[..., t, None, :] + _outer(v[..., t, :], k[..., t, :]))


def _delta(q, k, v, log_alpha, beta, M0):
    """GDN token loop: decay first, then the delta step on the decayed state (DeltaNet: log α = 0)."""
    alpha = None if log_alpha is None else torch.exp(log_alpha)
    M = _zeros(q, v) if M0 is None else M0

    def step(M, t):
        kt = k[..., t, :]
        if alpha is not None:
            M = alpha[..., t, None, None] * M
        e = _read(M, kt) - v[..., t, :]
        return M - beta[..., t, None, None] * _outer(e, kt)

    return _scan(q, k, v, M, step)


def _miras_delta(q, k, v, alpha, beta, M0):
    M = _zeros(q, v) if M0 is None else M0

    def step(M, t):
        kt = k[..., t, :]
        e = _read(M, kt) - v[..., t, :]
        return alpha[..., t, None, None] * M - beta[..., t, None, None] * _outer(e, kt)

    return _scan(q, k, v, M, step)


def _longhorn_rate(k, beta):
    """ε_t = β_t/(1 + β_t‖k_t‖²) (§3.1)."""
    return beta / (1.0 + beta * (k * k).sum(-1))


def _titans(q, k, v, alpha, eta, theta, M0, S0):
    M = _zeros(q, v) if M0 is None else M0
    S = torch.zeros_like(M) if S0 is None else S0
    out = []
    for t in range(q.shape[-2]):
        kt = k[..., t, :]
        e = _read(M, kt) - v[..., t, :]
        S = eta[..., t, None, None] * S - (2.0 * theta[..., t, None, None]) * _outer(e, kt)
        M = (1.0 - alpha[..., t, None, None]) * M + S
        out.append(_read(M, q[..., t, :]))
    return torch.stack(out, dim=-2), (M, S)


def _gelu_prime(h):
    """d/dh [h Φ(h)] = Φ(h) + h φ(h) (exact GELU), written in differentiable ops."""
    return torch.special.ndtr(h) + h * torch.exp(-0.5 * h * h) / math.sqrt(2.0 * math.pi)


def _mlp_read(W1, W2, x):
    return _read(W1, F.gelu(_read(W2, x)))


def _mlp_grads(W1, W2, k, v):
    """∇ of ℓ = ‖W1 gelu(W2 k) − v‖² w.r.t. (W1 [.., d_v, d_h], W2 [.., d_h, d_k]), by the chain rule."""
    h = _read(W2, k)
    z = F.gelu(h)
    e = _read(W1, z) - v
    g1 = 2.0 * _outer(e, z)
    dh = 2.0 * _read(W1.transpose(-1, -2), e) * _gelu_prime(h)
    return g1, _outer(dh, k)


def _titans_mlp(q, k, v, alpha, eta, theta, W1, W2):
    S1, S2 = torch.zeros_like(W1), torch.zeros_like(W2)
    out = []
    for t in range(q.shape[-2]):
        g1, g2 = _mlp_grads(W1, W2, k[..., t, :], v[..., t, :])
        a, m, th = (x[..., t, None, None] for x in (alpha, eta, theta))
        S1 = m * S1 - th * g1
        S2 = m * S2 - th * g2
        W1 = (1.0 - a) * W1 + S1
        W2 = (1.0 - a) * W2 + S2
        out.append(_mlp_read(W1, W2, q[..., t, :]))
    return torch.stack(out, dim=-2), (W1, W2, S1, S2)


def _moneta_map(A, q_norm, mirror):
    """W = A/‖A‖_q^{q−2} (stated) or sign(A)|A|^{q*−1}/‖A‖_{q*}^{q*−2} (mirror, q* = q/(q−1)); W = 0 at A = 0.

    ‖·‖ is entry-wise over the matrix (§3.2 default)."""
    e = q_norm / (q_norm - 1.0) if mirror else q_norm
    s = A.abs().pow(e).sum((-2, -1), keepdim=True)
    nonzero = s > 0
    scale = torch.where(nonzero, s, torch.ones_like(s)).pow((e - 2.0) / e)
    num = torch.sign(A) * A.abs().pow(e - 1.0) if mirror else A
    return torch.where(nonzero, num / scale, torch.zeros_like(A))


def _moneta(q, k, v, alpha, eta, p, q_norm, mirror, A0):
    A = _zeros(q, v) if A0 is None else A0
    W = _moneta_map(A, q_norm, mirror)
    out = []
    for t in range(q.shape[-2]):
        kt = k[..., t, :]
        e = _read(W, kt) - v[..., t, :]
        grad_e = p * torch.sign(e) * e.abs().pow(p - 1.0)
        A = alpha[..., t, None, None] * A - eta[..., t, None, None] * _outer(grad_e, kt)
        W = _moneta_map(A, q_norm, mirror)
        out.append(_read(W, q[..., t, :]))
    return torch.stack(out, dim=-2), (W, A)


def _yaad(q, k, v, alpha, eta, delta, normwise, M0):
    M = _zeros(q, v) if M0 is None else M0

    def step(M, t):
        kt = k[..., t, :]
        e = _read(M, kt) - v[..., t, :]
        sq = (e * e).sum(-1, keepdim=True)
        ne = torch.where(sq > 0, sq, torch.ones_like(sq)).sqrt()  # ‖e‖, with a gradient-safe value at e = 0
        d = delta[..., t, None]
        inside = sq <= d * d
        # d is finite wherever the outside branch is taken (‖e‖ > d), so the product never meets inf·0 there
        d_fin = torch.where(torch.isinf(d), torch.ones_like(d), d)
        outside = d_fin * e / ne if normwise else d_fin * torch.sign(e)
        g = torch.where(inside, e, outside)
        return alpha[..., t, None, None] * M - eta[..., t, None, None] * _outer(g, kt)

    return _scan(q, k, v, M, step)


def _log_softmax_slices(Lg, axis):
    if axis == "row":
        return torch.log_softmax(Lg, dim=-1)
    if axis == "column":
        return torch.log_softmax(Lg, dim=-2)
    flat = Lg.flatten(-2)
    return torch.log_softmax(flat, dim=-1).view(Lg.shape)


def _memora(q, k, v, alpha, eta, c, axis, W0):
    """Carried as log W, so W = exp(log W) stays > 0 and log W never meets log 0 after an underflow."""
    d_v, d_k = v.shape[-1], q.shape[-1]
    if W0 is None:
        n = {"row": d_k, "column": d_v, "matrix": d_k * d_v}[axis]
        logW = torch.full(tuple(q.shape[:-2]) + (d_v, d_k), math.log(c / n), dtype=q.dtype, device=q.device)
    else:
        logW = torch.log(W0)
    log_c = math.log(c)
    out = []
    for t in range(q.shape[-2]):
        kt = k[..., t, :]
        e = _read(torch.exp(logW), kt) - v[..., t, :]
        logits = alpha[..., t, None, None] * logW - eta[..., t, None, None] * _outer(e, kt)
        logW = log_c + _log_softmax_slices(logits, axis)
        out.append(_read(torch.exp(logW), q[..., t, :]))
    return torch.stack(out, dim=-2), torch.exp(logW)


# ----------------------------------------------------------------------------------------------------------------
# chunkwise forms


def _chunked(x, C, time_dim):
    """Pad the time axis of x to a multiple of C (zeros) and split it into [n, C]."""
    T = x.shape[time_dim]
    n = -(-T // C)
    pad = n * C - T
    if pad:
        widths = [0, 0] * (x.ndim - 1 - (time_dim % x.ndim)) + [0, pad]
        x = F.pad(x, widths)
    shape = list(x.shape)
    td = time_dim % x.ndim
    return x.reshape(shape[:td] + [n, C] + shape[td + 1:])


def _decay_matrix(g):
    """Γ [..., C, C] = exp(g_t − g_j) for j <= t and 0 above the diagonal, from within-chunk cumulative log gates
    g [..., C]. The difference is masked to −inf before the exponential, so no entry ever overflows."""
    C = g.shape[-1]
    diff = g[..., :, None] - g[..., None, :]
    mask = torch.ones(C, C, dtype=torch.bool, device=g.device).tril()
    return torch.exp(diff.masked_fill(~mask, -math.inf))


def _chunk_gla(q, k, v, log_gamma, beta, chunk, M0):
    T = q.shape[-2]
    C = min(chunk, T)
    qc, kc = _chunked(q, C, -2), _chunked(k, C, -2)
    vb = _chunked(v * beta[..., None], C, -2)
    g = _chunked(log_gamma, C, -1).cumsum(-1)  # [..., n, C]
    Gam = _decay_matrix(g)
    intra = ((qc @ kc.transpose(-1, -2)) * Gam) @ vb
    b = torch.exp(g)
    w = Gam[..., -1, :]  # exp(g_C − g_j)
    M = _zeros(q, v) if M0 is None else M0
    out = []
    for c in range(qc.shape[-3]):
        out.append(intra[..., c, :, :] + b[..., c, :, None] * (qc[..., c, :, :] @ M.transpose(-1, -2)))
        M = b[..., c, -1, None, None] * M + (vb[..., c, :, :] * w[..., c, :, None]).transpose(-1, -2) \
            @ kc[..., c, :, :]
    o = torch.stack(out, dim=-3).flatten(-3, -2)[..., :T, :]
    return o, M


def _chunk_gla_channel(q, k, v, log_a, chunk, M0):
    T = q.shape[-2]
    C = min(chunk, T)
    qc, kc, vc = _chunked(q, C, -2), _chunked(k, C, -2), _chunked(v, C, -2)
    g = _chunked(log_a, C, -2).cumsum(-2)  # [..., n, C, d_k]
    # Γ_tjc = exp(g_tc − g_jc) for j <= t: formed pairwise so no exp(+cumulative) can overflow
    Gam = _decay_matrix(g.transpose(-1, -2)).permute(*range(g.ndim - 2), -2, -1, -3)  # [..., n, C, C, d_k]
    intra = torch.einsum("...tc,...jc,...tjc->...tj", qc, kc, Gam) @ vc
    b = torch.exp(g)
    w = Gam[..., -1, :, :]  # [..., n, C, d_k]: exp(g_C − g_j) per channel
    M = _zeros(q, v) if M0 is None else M0
    out = []
    for c in range(qc.shape[-3]):
        out.append(intra[..., c, :, :] + (qc[..., c, :, :] * b[..., c, :, :]) @ M.transpose(-1, -2))
        M = M * b[..., c, -1, None, :] + vc[..., c, :, :].transpose(-1, -2) @ (kc[..., c, :, :] * w[..., c, :, :])
    o = torch.stack(out, dim=-3).flatten(-3, -2)[..., :T, :]
    return o, M


def _chunk_delta(q, k, v, log_alpha, beta, chunk, M0):
    """UT form (§3.3): per chunk (I + StrictLower(diag(β)(KKᵀ ⊙ Γ))) U = diag(β)(V − diag(b) K M_0ᵀ),
    O = diag(b) Q M_0ᵀ + Lower(QKᵀ ⊙ Γ) U, M_end = b_C M_0 + Uᵀ diag(b_C/b) K.

    The triangular solves do not involve M_0, so they run for all chunks at once; with L the unit lower
    triangular matrix on the left, U = U_v − W_k M_0ᵀ, U_v = L⁻¹ diag(β) V and W_k = L⁻¹ diag(β b) K, leaving
    three small products per chunk in the sequential loop over chunks.
    """
    T = q.shape[-2]
    C = min(chunk, T)
    qc, kc, vc = _chunked(q, C, -2), _chunked(k, C, -2), _chunked(v, C, -2)
    bc = _chunked(beta, C, -1)
    if log_alpha is None:
        g = torch.zeros_like(bc)
    else:
        g = _chunked(log_alpha, C, -1).cumsum(-1)
    Gam = _decay_matrix(g)
    b = torch.exp(g)
    eye = torch.eye(C, dtype=q.dtype, device=q.device)
    A = eye + torch.tril(bc[..., :, None] * (kc @ kc.transpose(-1, -2)) * Gam, -1)
    Uv = torch.linalg.solve_triangular(A, bc[..., None] * vc, upper=False, unitriangular=True)
    Wk = torch.linalg.solve_triangular(A, (bc * b)[..., None] * kc, upper=False, unitriangular=True)
    P = (qc @ kc.transpose(-1, -2)) * Gam  # Γ is already 0 above the diagonal
    Qb = qc * b[..., None]
    Kw = kc * Gam[..., -1, :, None]
    M = _zeros(q, v) if M0 is None else M0
    out = []
    for c in range(qc.shape[-3]):
        U = Uv[..., c, :, :] - Wk[..., c, :, :] @ M.transpose(-1, -2)
        out.append(Qb[..., c, :, :] @ M.transpose(-1, -2) + P[..., c, :, :] @ U)
        M = b[..., c, -1, None, None] * M + U.transpose(-1, -2) @ Kw[..., c, :, :]
    o = torch.stack(out, dim=-3).flatten(-3, -2)[..., :T, :]
    return o, M


# ----------------------------------------------------------------------------------------------------------------
# public rules


def softmax_attention(q, k, v, scale=None):
    """Causal softmax attention (§3): ``o_t = Σ_{i<=t} softmax_i(s q_tᵀk_i) v_i``, s = scale or d_k^{-1/2}.

    q, k [..., T, d_k], v [..., T, d_v] -> o [..., T, d_v] (``scaled_dot_product_attention``, is_causal)."""
    _sequences(q, k, v)
    if scale is not None:
        scale = _real("scale", scale, 0.0, lo_open=True)
    return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale)


def linear_attention(q, k, v, initial_state=None, return_state=False):
    """Linear attention (§3): ``M_t = M_{t−1} + v_t k_tᵀ``. Returns o [..., T, d_v] (and M_T [..., d_v, d_k])."""
    _sequences(q, k, v)
    zero = q.new_zeros(q.shape[:-1])
    o, M = _gla(q, k, v, zero, zero + 1.0, _initial(initial_state, q, (v.shape[-1], q.shape[-1])))
    return _ret(o, M, return_state)


def gated_linear_attention(q, k, v, log_gamma, beta=1.0, initial_state=None, return_state=False):
    """Gated LA, scalar gate (RetNet, Mamba2; §2.3(b), §3): ``M_t = γ_t M_{t−1} + β_t v_t k_tᵀ``.

    log_gamma = log γ_t <= 0 (-inf allowed: a reset) and beta >= 0, both broadcast to [..., T]."""
    _sequences(q, k, v)
    lg = _gate("log_gamma", log_gamma, q, None, 0.0, allow_inf=True)
    beta = _gate("beta", beta, q, 0.0)
    o, M = _gla(q, k, v, lg, beta, _initial(initial_state, q, (v.shape[-1], q.shape[-1])))
    return _ret(o, M, return_state)


def gated_linear_attention_channel(q, k, v, log_a, initial_state=None, return_state=False):
    """GLA, per-channel decay (§3): ``M_t = M_{t−1} Diag(a_t) + v_t k_tᵀ``, log_a = log a_t <= 0 [..., T, d_k]."""
    _sequences(q, k, v)
    la = _gate("log_a", log_a, q, None, 0.0, channel=True, allow_inf=True)
    o, M = _gla_channel(q, k, v, la, _initial(initial_state, q, (v.shape[-1], q.shape[-1])))
    return _ret(o, M, return_state)


def delta_rule(q, k, v, beta, initial_state=None, return_state=False):
    """DeltaNet (§3): ``M_t = M_{t−1} − β_t e_t k_tᵀ``, e_t = M_{t−1}k_t − v_t; beta in [0, 1] [..., T]."""
    _sequences(q, k, v)
    beta = _gate("beta", beta, q, 0.0, 1.0)
    o, M = _delta(q, k, v, None, beta, _initial(initial_state, q, (v.shape[-1], q.shape[-1])))
    return _ret(o, M, return_state)


def gated_delta_rule(q, k, v, log_alpha, beta, initial_state=None, return_state=False):
    """Gated DeltaNet (§3, decay first): ``M_t = α_t M_{t−1}(I − β_t k_t k_tᵀ) + β_t v_t k_tᵀ``.

    log_alpha = log α_t <= 0 and beta in [0, 1], broadcast to [..., T]."""
    _sequences(q, k, v)
    la = _gate("log_alpha", log_alpha, q, None, 0.0, allow_inf=True)
    beta = _gate("beta", beta, q, 0.0, 1.0)
    o, M = _delta(q, k, v, la, beta, _initial(initial_state, q, (v.shape[-1], q.shape[-1])))
    return _ret(o, M, return_state)


def miras_gated_delta_rule(q, k, v, alpha, beta, initial_state=None, return_state=False):
    """Miras-gated delta (§2.3(b)): ``M_t = λ_t M_{t−1} − η'_t e_t k_tᵀ`` (error on the undecayed state);
    alpha = λ in [0, 1], beta = η' >= 0, broadcast to [..., T]."""
    _sequences(q, k, v)
    alpha = _gate("alpha", alpha, q, 0.0, 1.0)
    beta = _gate("beta", beta, q, 0.0)
    o, M = _miras_delta(q, k, v, alpha, beta, _initial(initial_state, q, (v.shape[-1], q.shape[-1])))
    return _ret(o, M, return_state)


def longhorn(q, k, v, beta, initial_state=None, return_state=False):
    """Longhorn (§3.1), exact implicit step: ``M_t = M_{t−1} − ε_t e_t k_tᵀ``, ε_t = β_t/(1 + β_t‖k_t‖²);
    beta >= 0 [..., T]. A delta rule with rate ε, so it shares DeltaNet's chunkwise form."""
    _sequences(q, k, v)
    beta = _gate("beta", beta, q, 0.0)
    o, M = _delta(q, k, v, None, _longhorn_rate(k, beta), _initial(initial_state, q, (v.shape[-1], q.shape[-1])))
    return _ret(o, M, return_state)


def titans(q, k, v, alpha, eta, theta, initial_state=None, return_state=False):
    """Titans, linear memory (§2.3(h), §3): ``S_t = η_t S_{t−1} − θ_t ∇ℓ(M_{t−1})``, ``M_t = (1 − α_t)M_{t−1} + S_t``,
    ℓ = ‖Mk − v‖² (∇ℓ = 2 e kᵀ), per token.

    alpha, eta in [0, 1], theta >= 0 [..., T]; initial_state a pair (M_0, S_0); state returned (M_T, S_T)."""
    _sequences(q, k, v)
    alpha = _gate("alpha", alpha, q, 0.0, 1.0)
    eta = _gate("eta", eta, q, 0.0, 1.0)
    theta = _gate("theta", theta, q, 0.0)
    shape = (v.shape[-1], q.shape[-1])
    M0 = S0 = None
    if initial_state is not None:
        if not isinstance(initial_state, (tuple, list)) or len(initial_state) != 2:
            raise ValueError("initial_state must be a pair (M_0, S_0) of [..., d_v, d_k] tensors for titans")
        M0 = _state("initial_state[0] (M_0)", initial_state[0], q, shape)
        S0 = _state("initial_state[1] (S_0)", initial_state[1], q, shape)
    o, state = _titans(q, k, v, alpha, eta, theta, M0, S0)
    return _ret(o, state, return_state)


def titans_mlp(q, k, v, alpha, eta, theta, W1, W2, return_state=False):
    """Titans with a 2-layer MLP memory f(x) = W1 gelu(W2 x) (§3, titans-pytorch ``MemoryMLP``): per token and
    per weight matrix W, ``S_t = η_t S_{t−1} − θ_t ∇_W ℓ``, ``W_t = (1 − α_t)W_{t−1} + S_t``, ℓ = ‖f(k_t) − v_t‖²
    at the weights W_{t−1}; o_t = f_t(q_t). Momenta start at 0.

    W1 [..., d_v, d_h], W2 [..., d_h, d_k]: initial memory weights (broadcast over the batch). Returns o
    [..., T, d_v] and, with ``return_state``, (W1_T, W2_T, S1_T, S2_T)."""
    _sequences(q, k, v)
    alpha = _gate("alpha", alpha, q, 0.0, 1.0)
    eta = _gate("eta", eta, q, 0.0, 1.0)
    theta = _gate("theta", theta, q, 0.0)
    if not isinstance(W1, torch.Tensor) or W1.ndim < 2 or W1.shape[-2] != v.shape[-1]:
        raise ValueError(f"W1 must be a tensor [..., d_v, d_h] with d_v = {v.shape[-1]}")
    d_h = W1.shape[-1]
    W1 = _state("W1", W1, q, (v.shape[-1], d_h))
    W2 = _state("W2", W2, q, (d_h, q.shape[-1]))
    o, state = _titans_mlp(q, k, v, alpha, eta, theta, W1, W2)
    return _ret(o, state, return_state)


def moneta(q, k, v, alpha, eta, p=3.0, q_norm=4.0, retention_map="stated", initial_state=None,
           return_state=False):
    """Moneta, linear memory (§3.2): ``A_t = α_t A_{t−1} − η_t p (sign(e)|e|^{p−1}) kᵀ``, then W_t = map(A_t):
    ``"stated"`` A/‖A‖_q^{q−2} (the definition) or ``"mirror"`` the exact inverse mirror map of ½‖W‖_q².

    alpha in [0, 1], eta >= 0 [..., T]; p >= 1, q_norm > 1 (defaults 3, 4); initial_state A_0; the state
    returned is (W_T, A_T)."""
    _sequences(q, k, v)
    alpha = _gate("alpha", alpha, q, 0.0, 1.0)
    eta = _gate("eta", eta, q, 0.0)
    p = _real("p", p, 1.0)
    q_norm = _real("q_norm", q_norm, 1.0, lo_open=True)
    mirror = _choice("retention_map", retention_map, MONETA_MAPS) == "mirror"
    o, state = _moneta(q, k, v, alpha, eta, p, q_norm, mirror,
                       _initial(initial_state, q, (v.shape[-1], q.shape[-1])))
    return _ret(o, state, return_state)


def yaad(q, k, v, alpha, eta, delta, huber="coordinate", initial_state=None, return_state=False):
    """Yaad (§3.2): ``‖e‖ <= δ_t``: ``α W − η e kᵀ``; else ``α W − η δ sign(e) kᵀ`` (``huber="coordinate"``, stated)
    or ``α W − η δ e kᵀ/‖e‖`` (``"norm"``). alpha in [0, 1], eta >= 0, delta > 0 (inf allowed) [..., T]."""
    _sequences(q, k, v)
    alpha = _gate("alpha", alpha, q, 0.0, 1.0)
    eta = _gate("eta", eta, q, 0.0)
    delta = _gate("delta", delta, q, 0.0, lo_open=True, allow_inf=True)
    normwise = _choice("huber", huber, YAAD_HUBER) == "norm"
    o, M = _yaad(q, k, v, alpha, eta, delta, normwise, _initial(initial_state, q, (v.shape[-1], q.shape[-1])))
    return _ret(o, M, return_state)


def memora(q, k, v, alpha, eta, c=1.0, axis="matrix", initial_state=None, return_state=False):
    """Memora (§3.2): ``W_t = c·Softmax(α_t log W_{t−1} − η_t e kᵀ)`` over each slice (``axis`` "row", "column" or
    "matrix"); W_0 = c/n per slice of n entries unless initial_state (> 0) is given. alpha in [0, 1],
    eta >= 0 [..., T], c > 0."""
    _sequences(q, k, v)
    alpha = _gate("alpha", alpha, q, 0.0, 1.0)
    eta = _gate("eta", eta, q, 0.0)
    c = _real("c", c, 0.0, lo_open=True)
    axis = _choice("axis", axis, MEMORA_AXES)
    W0 = _initial(initial_state, q, (v.shape[-1], q.shape[-1]))
    if W0 is not None and not bool((W0 > 0).all()):
        raise ValueError("initial_state must be > 0 entry-wise for memora")
    o, W = _memora(q, k, v, alpha, eta, c, axis, W0)
    return _ret(o, W, return_state)


def chunkwise_gated_linear_attention(q, k, v, log_gamma=0.0, beta=1.0, chunk=64, initial_state=None,
                                     return_state=False):
    """Chunked scalar-gated LA (LA with log_gamma = 0): per chunk with Γ_tj = exp(g_t − g_j), j <= t,
    ``O = diag(b) Q M_0ᵀ + (QKᵀ ⊙ Γ) diag(β) V``, ``M_end = b_C M_0 + (diag(β Γ_C·) V)ᵀ K``, b_t = exp(g_t).
    Same arguments and result as ``gated_linear_attention`` plus ``chunk`` >= 1 (the last chunk may be short)."""
    _sequences(q, k, v)
    chunk = count("chunk", chunk)
    lg = _gate("log_gamma", log_gamma, q, None, 0.0)
    beta = _gate("beta", beta, q, 0.0)
    o, M = _chunk_gla(q, k, v, lg, beta, chunk, _initial(initial_state, q, (v.shape[-1], q.shape[-1])))
    return _ret(o, M, return_state)


def chunkwise_gated_linear_attention_channel(q, k, v, log_a, chunk=16, initial_state=None, return_state=False):
    """Chunked per-channel GLA: the chunked scalar form with Γ_tj replaced by the key-channel weights
    exp(g_tc − g_jc); same arguments and result as ``gated_linear_attention_channel`` plus ``chunk``."""
    _sequences(q, k, v)
    chunk = count("chunk", chunk)
    la = _gate("log_a", log_a, q, None, 0.0, channel=True)
    o, M = _chunk_gla_channel(q, k, v, la, chunk, _initial(initial_state, q, (v.shape[-1], q.shape[-1])))
    return _ret(o, M, return_state)


def chunkwise_delta_rule(q, k, v, beta, chunk=64, initial_state=None, return_state=False):
    """DeltaNet in chunkwise UT form (§3.3, a ≡ 1); same arguments and result as ``delta_rule`` plus ``chunk``."""
    _sequences(q, k, v)
    chunk = count("chunk", chunk)
    beta = _gate("beta", beta, q, 0.0, 1.0)
    o, M = _chunk_delta(q, k, v, None, beta, chunk, _initial(initial_state, q, (v.shape[-1], q.shape[-1])))
    return _ret(o, M, return_state)


def chunkwise_gated_delta_rule(q, k, v, log_alpha, beta, chunk=64, initial_state=None, return_state=False):
    """Gated DeltaNet in chunkwise UT form (§3.3); same arguments and result as ``gated_delta_rule`` plus
    ``chunk``."""
    _sequences(q, k, v)
    chunk = count("chunk", chunk)
    la = _gate("log_alpha", log_alpha, q, None, 0.0)
    beta = _gate("beta", beta, q, 0.0, 1.0)
    o, M = _chunk_delta(q, k, v, la, beta, chunk, _initial(initial_state, q, (v.shape[-1], q.shape[-1])))
    return _ret(o, M, return_state)
