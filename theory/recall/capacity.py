"""Recall error of linear, least-squares and ridge memories (test_time_memory.md §4.1, §6).

Setting (§6): N pairs, keys k_i ∈ R^{d_k}, values v_i ∈ R^{d_v} i.i.d. isotropic (variance σ² per entry),
read with q = k_j, relative error ``E = Σ_j ‖M k_j − v_j‖² / Σ_j ‖v_j‖²``, a ratio of expectations over values.
Keys are rows of K [N, d_k], values rows of V [N, d_v], Gram = K Kᵀ [N, N].

Each ``derive_*`` returns a :class:`Formula`: the closed form and named certificates that simplify to zero.
The numpy helpers below are those closed forms, vectorised (broadcasting) over their array arguments; they
return a numpy float for scalar input.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import numpy as np
import sympy as sp

from theory.recall._checks import out, real
from theory.recall._sym import frob2, matrix, vector, zero_matrix

__all__ = [
    "Formula",
    "derive_unit_key_overlap",
    "derive_linear_attention_crosstalk",
    "derive_least_squares_error",
    "derive_ridge_error",
    "derive_ridge_error_random",
    "derive_mesa_readout",
    "derive_mesa_limits",
    "derive_delta_projection",
    "derive_orthonormal_exactness",
    "derive_forgetting_window",
    "derive_information_bound",
    "FORMULAS",
    "certify_formula",
    "linear_attention_recall_error",
    "linear_attention_snr",
    "least_squares_recall_error",
    "ridge_recall_error",
    "ridge_recall_error_orthonormal",
    "ridge_recall_error_random",
    "mesa_readout_gain",
    "mesa_large_lam_deviation",
    "forgetting_window",
    "gated_memory_span",
    "information_bound_bits",
    "information_bound_max_pairs",
]


class Formula(NamedTuple):
    """A closed form with its certificates: ``parts`` maps a name to a matrix that simplifies to zero."""

    name: str
    expr: sp.Expr
    symbols: dict
    parts: dict


def _unit_key_overlap_integral(d_k: int):
    """E[(kᵀu)²] for k uniform on the unit sphere S^{d_k−1} and a fixed unit u, as an exact integral."""
    if d_k == 1:
        return sp.Integer(1)  # k = ±u
    th, ph = sp.symbols("theta phi", real=True)
    if d_k == 2:
        return sp.integrate(sp.cos(th) ** 2, (th, 0, 2 * sp.pi)) / (2 * sp.pi)
    return sp.integrate(sp.cos(th) ** 2 * sp.sin(th), (th, 0, sp.pi), (ph, 0, 2 * sp.pi)) / (4 * sp.pi)


@cache
def derive_unit_key_overlap() -> Formula:
    """E[(k_iᵀk_j)²] = 1/d_k for independent uniform unit keys (§6.2).

    Isotropy and tr E[k kᵀ] = ‖k‖² = 1 give E[k kᵀ] = I/d_k, hence E[(k_iᵀk_j)²] = k_jᵀ(I/d_k)k_j = 1/d_k.
    Parts ``sphere_d`` compare the exact sphere integral with 1/d for d = 1, 2, 3.
    """
    d_k = sp.Symbol("d_k", positive=True)
    expr = 1 / d_k
    parts = {f"sphere_{d}": sp.Matrix([_unit_key_overlap_integral(d) - sp.Integer(1) / d]) for d in (1, 2, 3)}
    return Formula("unit_key_overlap", expr, {"d_k": d_k}, parts)


@cache
def derive_linear_attention_crosstalk() -> Formula:
    """LA crosstalk (§6.2): ``M k_j − v_j = Σ_{i≠j} v_i (k_iᵀk_j)`` ⇒ ``E = (N − 1)/d_k``.

    Cross terms vanish (independent zero-mean values), so E[numerator] = N(N − 1)·d_v σ²·E[(k_iᵀk_j)²] and
    E[denominator] = N d_v σ²; exact as a ratio of expectations. Part ``read_out``: the crosstalk identity for
    N = 3 explicit keys/values (d_k = d_v = 2, read key 1).
    """
    N, d_k, d_v, s2 = sp.symbols("N d_k d_v sigma2", positive=True)
    overlap = derive_unit_key_overlap().expr.subs(sp.Symbol("d_k", positive=True), d_k)
    numerator = N * (N - 1) * d_v * s2 * overlap
    denominator = N * d_v * s2
    expr = (N - 1) / d_k
    keys = [vector(f"k{i}", 2, real=True) for i in range(3)]
    values = [vector(f"v{i}", 2, real=True) for i in range(3)]
    M = sum((v * k.T for v, k in zip(values, keys)), sp.zeros(2, 2))
    crosstalk = sum((values[i] * (keys[i].T * keys[0])[0, 0] for i in (1, 2)), sp.zeros(2, 1))
    read_out = M * keys[0] - values[0] - (frob2(keys[0]) - 1) * values[0] - crosstalk
    parts = {"ratio": sp.Matrix([numerator / denominator - expr]), "read_out": read_out}
    return Formula("linear_attention_crosstalk", expr, {"N": N, "d_k": d_k}, parts)


@cache
def derive_least_squares_error() -> Formula:
    """LS in-sample error (§6.3): ``E = max(0, 1 − d_k/N)`` for keys in general position.

    Residual = (I − P) V with P the hat matrix K(KᵀK)^+Kᵀ of rank min(N, d_k), so E = tr(I − P)/N.
    Parts: ``hat_trace`` (tr P = d_k for N = 3 explicit keys in R²), ``regime_over`` / ``regime_under``
    ((N − min(N, d_k))/N equals the closed form for N = d_k + m and N = d_k/(1 + m), m > 0).
    """
    N, d_k, m = sp.symbols("N d_k m", positive=True)
    expr = sp.Max(0, 1 - d_k / N)
    K = matrix("K", 3, 2, real=True)
    P = K * (K.T * K).inv() * K.T
    exact = (N - sp.Min(N, d_k)) / N
    parts = {
        "hat_trace": sp.Matrix([P.trace() - 2]),
        "regime_over": sp.Matrix([(exact - expr).subs(N, d_k + m)]),
        "regime_under": sp.Matrix([(exact - expr).subs(N, d_k / (1 + m))]),
    }
    return Formula("least_squares_error", expr, {"N": N, "d_k": d_k}, parts)


@cache
def derive_ridge_error() -> Formula:
    """Ridge (Mesa γ = β = 1, Λ = λI) in-sample error (§6.4): ``E = λ² tr((Gram + λI)^{-2}) / N``.

    ``M = Vᵀ K (KᵀK + λI)^{-1}``. Push-through (part ``push_through``, explicit K [2, 3]):
    ``K (KᵀK + λI)^{-1} = (Gram + λI)^{-1} K``, so ``K Mᵀ − V = ((Gram + λI)^{-1} Gram − I) V
    = −λ (Gram + λI)^{-1} V`` (part ``residual``, symmetric Gram [2, 2]); its value-expectation is
    ``σ² d_v λ² tr((Gram + λI)^{-2})`` (part ``expectation``, d_v = 2); orthonormal keys (Gram = I) give
    ``(λ/(1 + λ))²`` = ``expr`` (part ``orthonormal``).
    """
    lam, s2 = sp.symbols("lambda sigma2", positive=True)
    N, d_v = 2, 2
    K = matrix("K", N, 3, real=True)
    push_through = (K * K.T + lam * sp.eye(N)) * K - K * (K.T * K + lam * sp.eye(3))
    g = sp.symbols("g_00 g_01 g_11", real=True)
    gram = sp.Matrix([[g[0], g[1]], [g[1], g[2]]])
    inv = (gram + lam * sp.eye(N)).inv()
    A = -lam * inv
    V = matrix("V", N, d_v, real=True)
    # E over V with E[V_ia V_jb] = σ² δ_ij δ_ab: half the trace of the quadratic form's Hessian
    sq = frob2(A * V)
    expectation = s2 * sum(sp.diff(sq, x, 2) for x in V) / 2
    predicted = s2 * d_v * lam**2 * (inv**2).trace()
    expr = (lam / (1 + lam)) ** 2
    ortho = lam**2 * ((sp.eye(N) + lam * sp.eye(N)).inv() ** 2).trace() / N
    parts = {
        "push_through": push_through,
        "residual": inv * gram - sp.eye(N) - A,
        "expectation": sp.Matrix([expectation - predicted]),
        "orthonormal": sp.Matrix([ortho - expr]),
    }
    return Formula("ridge_error", expr, {"lambda": lam}, parts)


@cache
def derive_ridge_error_random() -> Formula:
    """Ridge error for random unit keys in the proportional limit N, d_k → ∞, y = N/d_k (Marchenko–Pastur).

    Gram eigenvalues follow MP(y) (an atom 1 − 1/y at 0 when y > 1); with the Stieltjes transform
    ``f(λ) = E[1/(μ + λ)] = (s − a)/(2yλ)``, ``a = 1 − y + λ``, ``s = √(a² + 4yλ)``:
    ``E = λ² E[(μ + λ)^{-2}] = −λ² f′(λ)``. Parts (limits): λ → 0 at y = ½ gives E/λ² → 1/(1 − y)³ = 8
    (relative RMS residual 2√2·λ ≈ 2.83λ, §6.4); y = 2 gives E → 1 − 1/y = LS; y → 0 gives the orthonormal
    ``(λ/(1 + λ))²``; λ → ∞ gives 1; ``stable_form``: E = (s + a + 2y)(s − a)²/(8y²s).
    """
    lam, y = sp.symbols("lambda y", positive=True)
    a = 1 - y + lam
    s = sp.sqrt(a**2 + 4 * y * lam)
    f = (s - a) / (2 * y * lam)
    expr = sp.simplify(-(lam**2) * sp.diff(f, lam))
    half = sp.Rational(1, 2)
    parts = {
        "small_lam": sp.Matrix([sp.limit((expr / lam**2).subs(y, half), lam, 0) - 1 / (1 - half) ** 3]),
        "over_parametrised": sp.Matrix([sp.limit(expr.subs(y, 2), lam, 0) - half]),
        "orthonormal_limit": sp.Matrix([sp.limit(expr, y, 0) - (lam / (1 + lam)) ** 2]),
        "large_lam": sp.Matrix([sp.limit(expr.subs(y, half), lam, sp.oo) - 1]),
        "stable_form": sp.Matrix([expr - (s + a + 2 * y) * (s - a) ** 2 / (8 * y**2 * s)]),
    }
    return Formula("ridge_error_random", expr, {"lambda": lam, "y": y}, parts)


@cache
def derive_mesa_readout() -> Formula:
    """Isolated key written with weight β into an empty Mesa state reads back ``β/(β + λ)·v`` (§4.1, §4.6).

    H = β k kᵀ, G = β v kᵀ, o = G (H + λI)^{-1} k = β‖k‖²/(β‖k‖² + λ)·v; unit keys give ``expr``
    (part ``readout``, explicit k ∈ R² and v ∈ R²; part ``unit`` substitutes ‖k‖ = 1 via k = (cos θ, sin θ)).
    """
    beta, lam = sp.symbols("beta lambda", positive=True)
    th = sp.Symbol("theta", real=True)
    v = vector("v", 2, real=True)

    def readout(k):
        H = beta * k * k.T
        G = beta * v * k.T
        return G * (H + lam * sp.eye(2)).inv() * k

    k = vector("k", 2, real=True)
    n2 = frob2(k)
    expr = beta / (beta + lam)
    parts = {
        "readout": readout(k) - beta * n2 / (beta * n2 + lam) * v,
        "unit": readout(sp.Matrix([sp.cos(th), sp.sin(th)])) - expr * v,
    }
    return Formula("mesa_readout", expr, {"beta": beta, "lambda": lam}, parts)


@cache
def derive_mesa_limits() -> Formula:
    """Mesa limits (§2.1, §4.1, claim 19), explicit d_k = d_v = 2, two tokens, Λ = λI.

    ``deviation``: λ(H + λI)^{-1} − I = −H(H + λI)^{-1}, whose norm for PSD H is ‖H‖/(‖H‖ + λ) ≤ ‖H‖/λ
    (``expr``, in terms of h = ‖H‖₂); ``large_lam``: λ·o → G q as λ → ∞ (scaled gated LA with input gate β);
    ``exact_recall``: λ → 0, γ = β = 1, two independent keys: o(q = k_j) = v_j.
    """
    lam, h, x = sp.symbols("lambda h x", positive=True)
    keys = [vector(f"k{i}", 2, real=True) for i in (1, 2)]
    values = [vector(f"v{i}", 2, real=True) for i in (1, 2)]
    beta = sp.symbols("beta_1:3", positive=True)
    gamma = sp.Symbol("gamma_2", positive=True)
    q = vector("q", 2, real=True)
    H = gamma * beta[0] * keys[0] * keys[0].T + beta[1] * keys[1] * keys[1].T
    G = gamma * beta[0] * values[0] * keys[0].T + beta[1] * values[1] * keys[1].T
    inv = (H + lam * sp.eye(2)).inv()
    scaled = (lam * G * inv * q).applyfunc(lambda e: sp.cancel(e.subs(lam, 1 / x)))
    H1 = sum((k * k.T for k in keys), sp.zeros(2, 2))
    G1 = sum((v * k.T for v, k in zip(values, keys)), sp.zeros(2, 2))
    recall = [G1 * H1.inv() * k - v for k, v in zip(keys, values)]
    parts = {
        "deviation": lam * inv - sp.eye(2) + H * inv,
        "large_lam": scaled.subs(x, 0) - G * q,
        "exact_recall": sp.Matrix.vstack(*recall),
    }
    return Formula("mesa_limits", h / (h + lam), {"h": h, "lambda": lam}, parts)


@cache
def derive_delta_projection() -> Formula:
    """Delta rule with β = 1 and a unit key (§6.5, claim 24): the written key becomes exact (``last_exact``);
    any earlier key k_j moves by ``(v − M_prev k)(kᵀk_j)`` (``perturbation``). Explicit d_k = d_v = 2."""
    th = sp.Symbol("theta", real=True)
    k = sp.Matrix([sp.cos(th), sp.sin(th)])
    kj = vector("u", 2, real=True)
    v = vector("v", 2, real=True)
    Mp = matrix("P", 2, 2, real=True)
    M = Mp * (sp.eye(2) - k * k.T) + v * k.T
    parts = {
        "last_exact": M * k - v,
        "perturbation": (M - Mp) * kj - (v - Mp * k) * (k.T * kj)[0, 0],
    }
    return Formula("delta_projection", sp.Integer(0), {"theta": th}, parts)


@cache
def derive_orthonormal_exactness() -> Formula:
    """Orthonormal keys, N = d_k = 2 (§6.1, claim 26): LA, the delta rule (β = 1, both write orders) and LS
    recall every value exactly; each part holds ``M k_j − v_j`` for j = 1, 2."""
    th = sp.Symbol("theta", real=True)
    keys = [sp.Matrix([sp.cos(th), sp.sin(th)]), sp.Matrix([-sp.sin(th), sp.cos(th)])]
    values = [vector(f"v{i}", 2, real=True) for i in (1, 2)]

    def residual(M):
        return sp.Matrix.vstack(*[M * k - v for k, v in zip(keys, values)])

    def delta(order):
        M = sp.zeros(2, 2)
        for i in order:
            M = M * (sp.eye(2) - keys[i] * keys[i].T) + values[i] * keys[i].T
        return M

    K = sp.Matrix.hstack(*keys).T
    V = sp.Matrix.hstack(*values).T
    M_ls = (K.T * K).inv() * K.T * V
    parts = {
        "linear_attention": residual(sum((v * k.T for v, k in zip(values, keys)), sp.zeros(2, 2))),
        "delta_12": residual(delta((0, 1))),
        "delta_21": residual(delta((1, 0))),
        "least_squares": residual(M_ls.T),
    }
    return Formula("orthonormal_exactness", sp.Integer(0), {"theta": th}, parts)


@cache
def derive_forgetting_window() -> Formula:
    """Effective window of a gate γ (§6.7): Σ_{i≥0} γ^i = 1/(1 − γ) (part ``series``, γ = 1/(1 + z), z > 0).

    ``expr`` is the heuristic span min(d_k, 1/(1 − γ)) of usefully recalled recent pairs — a hypothesis to
    measure (claim 28), not a derived law.
    """
    gamma, d_k, z = sp.symbols("gamma d_k z", positive=True)
    i = sp.Symbol("i", integer=True, nonnegative=True)
    window = 1 / (1 - gamma)
    series = sp.summation((1 / (1 + z)) ** i, (i, 0, sp.oo)) - window.subs(gamma, 1 / (1 + z))
    return Formula("forgetting_window", sp.Min(d_k, window), {"gamma": gamma, "d_k": d_k},
                   {"series": sp.Matrix([series])})


@cache
def derive_information_bound() -> Formula:
    """Information bound (§6.8): N values from an alphabet of V/2 need ``N log₂(V/2)`` bits (``expr``); a state
    of S bits fails beyond ``N = S / log₂(V/2)`` (part ``inverse``)."""
    N, V, S = sp.symbols("N V S", positive=True)
    bits = N * sp.log(V / 2, 2)
    n_max = S / sp.log(V / 2, 2)
    return Formula("information_bound", bits, {"N": N, "V": V, "S": S},
                   {"inverse": sp.Matrix([bits.subs(N, n_max) - S])})


FORMULAS = {
    "unit_key_overlap": derive_unit_key_overlap,
    "linear_attention_crosstalk": derive_linear_attention_crosstalk,
    "least_squares_error": derive_least_squares_error,
    "ridge_error": derive_ridge_error,
    "ridge_error_random": derive_ridge_error_random,
    "mesa_readout": derive_mesa_readout,
    "mesa_limits": derive_mesa_limits,
    "delta_projection": derive_delta_projection,
    "orthonormal_exactness": derive_orthonormal_exactness,
    "forgetting_window": derive_forgetting_window,
    "information_bound": derive_information_bound,
}


@cache
def certify_formula(name: str) -> dict:
    """{part: simplified residual} for ``FORMULAS[name]()``; every entry is zero when certified."""
    if name not in FORMULAS:
        raise ValueError(f"name must be one of {sorted(FORMULAS)}, got {name!r}")
    return {part: zero_matrix(m) for part, m in FORMULAS[name]().parts.items()}


# ---------------------------------------------------------------- numpy helpers


def _N_dk(N, d_k):
    return real("N", N, lo=1), real("d_k", d_k, lo=1)


@cache
def _la_error():
    f = derive_linear_attention_crosstalk()
    return sp.lambdify((f.symbols["N"], f.symbols["d_k"]), f.expr, modules="numpy", cse=True)


def linear_attention_recall_error(N, d_k):
    """LA crosstalk ``E = (N − 1)/d_k`` for N random unit keys in R^{d_k} (§6.2; claim 22) [dimensionless].

    N >= 1, d_k >= 1 (arrays broadcast; real values allowed for smooth curves).
    """
    N, d_k = _N_dk(N, d_k)
    return out(_la_error()(N, d_k))


def linear_attention_snr(N, d_k):
    """Signal-to-crosstalk ratio ``d_k/(N − 1)`` of LA read-out (§6.2); ``inf`` at N = 1."""
    N, d_k = _N_dk(N, d_k)
    with np.errstate(divide="ignore"):
        return out(np.where(N > 1, d_k / np.maximum(N - 1, 1e-300), np.inf))


def least_squares_recall_error(N, d_k):
    """LS in-sample error ``max(0, 1 − d_k/N)`` (§6.3; claim 23): d_k pairs are stored exactly.

    N >= 1, d_k >= 1; keys in general position, values isotropic.
    """
    N, d_k = _N_dk(N, d_k)
    return out(np.maximum(0.0, 1.0 - d_k / N))


def _gram_eigenvalues(Gram):
    """Eigenvalues [..., N] (clipped at 0) of a validated key Gram matrix, and the tolerance below which an
    eigenvalue counts as zero."""
    try:
        G = np.asarray(Gram, dtype=float)
    except (TypeError, ValueError):
        G = None
    if G is None or G.ndim < 2 or G.shape[-1] != G.shape[-2] or G.shape[-1] == 0:
        raise ValueError(f"Gram must be a non-empty square matrix [..., N, N], got {Gram!r}")
    if not np.all(np.isfinite(G)):
        raise ValueError("Gram must be finite")
    scale = max(1.0, float(np.max(np.abs(G))))
    if not np.allclose(G, np.swapaxes(G, -1, -2), rtol=0.0, atol=1e-10 * scale):
        raise ValueError("Gram must be symmetric")
    mu = np.linalg.eigvalsh(0.5 * (G + np.swapaxes(G, -1, -2)))
    tol = 1e-10 * scale * G.shape[-1]
    if np.any(mu < -tol):
        raise ValueError("Gram must be positive semi-definite")
    return np.maximum(mu, 0.0), tol


def ridge_recall_error(Gram, lam):
    """Ridge in-sample error ``λ² tr((Gram + λI)^{-2}) / N`` (§6.4; claim 21), exact over isotropic values.

    Gram: key Gram matrix K Kᵀ [..., N, N] (symmetric PSD); lam: ridge λ >= 0, broadcast against the leading
    dimensions. λ = 0 is the LS limit λ → 0⁺: the fraction of zero Gram eigenvalues.
    """
    mu, tol = _gram_eigenvalues(Gram)
    lam = real("lam", lam, lo=0)
    lam_b = np.asarray(lam)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(lam_b > 0, lam_b / (mu + lam_b), (mu <= tol).astype(float))
    return out(np.mean(ratio**2, axis=-1))


def ridge_recall_error_bound(Gram, lam):
    """Worst case over values of the ridge (and Mesa, γ = β = 1) in-sample relative squared error
    ``(λ/(μ_min + λ))²`` (§6.4; claim 19's λ → 0 limit), μ_min the smallest eigenvalue of the key Gram matrix.

    The reads of the stored keys are Gram(Gram + λI)⁻¹V, so the error is −λ(Gram + λI)⁻¹V. The bound vanishes as
    λ → 0 for linearly independent keys, but at a fixed λ it is not small for nearly dependent keys (a random
    square key matrix has μ_min ~ 1/d_k² with a heavy lower tail). Gram [..., N, N] symmetric PSD; lam > 0,
    broadcast against the leading dimensions.
    """
    mu, _ = _gram_eigenvalues(Gram)
    lam = real("lam", lam, lo=0, lo_open=True)
    return out((lam / (mu[..., 0] + lam)) ** 2)


@cache
def _ridge_ortho():
    f = derive_ridge_error()
    return sp.lambdify(f.symbols["lambda"], f.expr, modules="numpy", cse=True)


def ridge_recall_error_orthonormal(lam):
    """Ridge error for orthonormal keys ``(λ/(1 + λ))²`` (§6.4; claim 20): λ = 0.25 → 0.04, λ = 1 → 0.25.

    lam >= 0. Each item reads back ``v/(1 + λ)``, i.e. a residual ``λ/(1 + λ)·v``.
    """
    return out(_ridge_ortho()(real("lam", lam, lo=0)))


def ridge_recall_error_random(N, d_k, lam):
    """Ridge error for N random unit keys in R^{d_k}, proportional (Marchenko–Pastur) limit, y = N/d_k.

    ``E = (s + a + 2y)(s − a)² / (8 y² s)``, a = 1 − y + λ, s = √(a² + 4yλ) (the stable form of −λ² f′(λ),
    :func:`derive_ridge_error_random`); λ = 0 gives the LS value max(0, 1 − 1/y). N, d_k >= 1, lam >= 0.
    Small λ, y < 1: E ≈ λ²/(1 − y)³. Finite-N corrections are O(1/N).
    """
    N, d_k = _N_dk(N, d_k)
    lam = real("lam", lam, lo=0)
    y = N / d_k
    a = 1.0 - y + lam
    s = np.sqrt(a * a + 4.0 * y * lam)
    # s − a cancels for a > 0 and small λ; there s − a = 4yλ/(s + a) is exact
    s_minus_a = np.where(a > 0, 4.0 * y * lam / np.where(a > 0, s + a, 1.0), s - a)
    with np.errstate(divide="ignore", invalid="ignore"):
        E = (s + a + 2.0 * y) * s_minus_a**2 / (8.0 * y**2 * s)
    return out(np.where(lam > 0, E, np.maximum(0.0, 1.0 - 1.0 / y)))


def mesa_readout_gain(beta, lam):
    """Read-out gain ``β/(β + λ)`` of an isolated unit key written with weight β (§4.1, §4.6).

    beta > 0, lam >= 0 (λ = 1, β = 1 halves the read-out).
    """
    beta = real("beta", beta, lo=0, lo_open=True)
    lam = real("lam", lam, lo=0)
    return out(beta / (beta + lam))


def mesa_large_lam_deviation(H_norm, lam):
    """‖λ(H + λI)^{-1} − I‖₂ = h/(h + λ) ≤ h/λ for PSD H with h = ‖H‖₂ (§4.1, claim 19).

    The relative deviation of λ·o_t from the gated-LA read-out G_t q_t is at most this. H_norm >= 0, lam > 0.
    """
    h = real("H_norm", H_norm, lo=0)
    lam = real("lam", lam, lo=0, lo_open=True)
    return out(h / (h + lam))


def forgetting_window(gamma):
    """Effective window ``1/(1 − γ)`` tokens of a forget gate γ ∈ [0, 1) (§6.7)."""
    gamma = real("gamma", gamma, lo=0, hi=1, hi_open=True)
    return out(1.0 / (1.0 - gamma))


def gated_memory_span(d_k, gamma):
    """Heuristic useful span ``min(d_k, 1/(1 − γ))`` recent pairs (§6.7) — a hypothesis to measure (claim 28).

    d_k >= 1, gamma in [0, 1).
    """
    d_k = real("d_k", d_k, lo=1)
    return out(np.minimum(d_k, forgetting_window(gamma)))


def information_bound_bits(N, V):
    """Bits needed to store N arbitrary values from an alphabet of V/2: ``N log₂(V/2)`` (§6.8).

    N >= 1, V > 2 (vocabulary size; the value alphabet is the upper half).
    """
    N = real("N", N, lo=1)
    V = real("V", V, lo=2, lo_open=True)
    return out(N * np.log2(V / 2.0))


def information_bound_max_pairs(state_bits, V):
    """Largest N a state of ``state_bits`` bits can hold: ``state_bits / log₂(V/2)`` (§6.8).

    state_bits > 0, V > 2.
    """
    S = real("state_bits", state_bits, lo=0, lo_open=True)
    V = real("V", V, lo=2, lo_open=True)
    return out(S / np.log2(V / 2.0))
