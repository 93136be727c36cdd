"""Symbolic derivations for associative memories, factual recall and their scaling laws (associative_memory.md).

Every ``derive_*`` function returns sympy expressions (in a NamedTuple) and is cached; the numeric helpers of
``hebbian``, ``bounds``, ``sequential`` and ``cabannes`` lambdify them once through :func:`lambdified`.

Symbols (positive unless stated): ``d`` (embedding dimension), ``N`` (inputs), ``M`` (output classes),
``n_a``, ``n_b`` (sizes of the true and of the competitor class), ``mu_e``, ``mu_u`` (E‖e‖⁴, E‖u‖⁴ of the
input and output embeddings, whose second moments are E[vvᵀ] = I/d), ``delta`` (failure probability),
``kappa``, ``area`` (capacity constant and d² or md), ``H``, ``d_h``, ``m`` (heads, head and MLP width),
``S``, ``R``, ``D`` (subjects, relations, answers per relation), ``a0``, ``A``, ``c``, ``eta``, ``g``,
``t`` (§8.4 escape), and for §9 ``k`` (α = 1 + k > 1), ``rho``, ``T``, ``Z`` (Zipf normaliser), ``K``, ``x``,
``q``, ``gamma``, ``n``, ``Mm1`` (M − 1).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import sympy as sp
import sympy.stats as sps

d, N, M, n_a, n_b = sp.symbols("d N M n_a n_b", positive=True)
mu_e, mu_u, delta = sp.symbols("mu_e mu_u delta", positive=True)
kappa, area = sp.symbols("kappa area", positive=True)
S, R, D = sp.symbols("S R D", positive=True)
a0, A, c, eta, g, t = sp.symbols("a0 A c eta g t", positive=True)
k, rho, T, Z, K, x = sp.symbols("k rho T Z K x", positive=True)
q, gamma, n, Mm1 = sp.symbols("q gamma n Mm1", positive=True)
alpha = 1 + k  # the Zipf exponent; every law of §9.3 needs α > 1


# ---------------------------------------------------------------------------------------------------------
# §2.2 Hebbian memory W = Σ_x u_{f*(x)} e_xᵀ: the score gap and its variance
# ---------------------------------------------------------------------------------------------------------


class HebbianGapDerivation(NamedTuple):
    """Mean and variance of the Hebbian gap Δ = u_aᵀWe_x − u_bᵀWe_x (x in class a, competitor b ≠ a)."""

    mean: sp.Expr  # E[Δ] = 1
    var_general: sp.Expr  # Var(Δ)(N, n_a, n_b, d, mu_e, mu_u), exact for independent isotropic embeddings
    mu_gaussian: sp.Expr  # E‖v‖⁴ = 1 + 2/d for v ~ N(0, I/d) (E‖v‖⁴ = 1 on the sphere)
    var_sphere: sp.Expr  # balanced classes n_a = n_b = N/M; e, u uniform on S^{d−1}
    var_gaussian: sp.Expr  # e, u ~ N(0, I/d)
    var_gaussian_inputs: sp.Expr  # e ~ N(0, I/d), u on the sphere
    var_gaussian_outputs: sp.Expr  # e on the sphere, u ~ N(0, I/d)
    var_spec: sp.Expr  # §2.2 form 2N/(Md) + 2N/d² + 2/d


@functools.cache
def derive_hebbian_gap() -> HebbianGapDerivation:
    """Exact E[Δ] and Var(Δ) of the Hebbian memory for independent isotropic embeddings (§2.2).

    With c = u_a·u_b, r = ‖e_x‖², α = ‖u_a‖² − c, β = c − ‖u_b‖²:
    Δ = α r + α Σ_{x'∈a∖x} e_x'·e_x + β Σ_{x'∈b} e_x'·e_x + Σ_{x'∉a∪b} ((u_a − u_b)·u_{f*(x')}) e_x'·e_x.
    Given the output embeddings and e_x, the e_x' (x' ≠ x) are independent with mean zero, so the four groups
    are uncorrelated and each group is a sum of uncorrelated terms; every factor (e_x'·e_x)² averages to
    E[(v·w)²] = tr(E[vvᵀ]E[wwᵀ]) = 1/d, and E[c ‖u_a‖²] = 0 (u_b → −u_b).
    """
    cross2 = sp.trace(sp.Identity(d) / d * sp.Identity(d) / d)  # E[(v·w)²], independent isotropic v, w
    E_alpha = sp.Integer(1)  # E‖u‖² − E[c]
    E_alpha2 = mu_u + cross2  # E‖u_a‖⁴ − 2E[‖u_a‖²c] + E[c²]
    E_diff_z2 = 2 * cross2  # E[((u_a − u_b)·u_z)²] = E‖u_a − u_b‖²/d
    mean = E_alpha * 1  # E[α]E[r], E r = 1
    second = (
        E_alpha2 * mu_e
        + (n_a - 1) * E_alpha2 * cross2
        + n_b * E_alpha2 * cross2  # E[β²] = E[α²]
        + (N - n_a - n_b) * E_diff_z2 * cross2
    )
    var = sp.expand(second - mean**2)

    chi2 = sps.ChiSquared("chi2", d)  # d‖v‖² for v ~ N(0, I/d)
    mu_gauss = sp.expand(sp.simplify(sps.E(chi2**2)) / d**2)

    def balanced(me, mu):
        return sp.expand(var.subs({n_a: N / M, n_b: N / M, mu_e: me, mu_u: mu}))

    return HebbianGapDerivation(
        mean=sp.sympify(mean),
        var_general=var,
        mu_gaussian=mu_gauss,
        var_sphere=balanced(1, 1),
        var_gaussian=balanced(mu_gauss, mu_gauss),
        var_gaussian_inputs=balanced(mu_gauss, 1),
        var_gaussian_outputs=balanced(1, mu_gauss),
        var_spec=2 * N / (M * d) + 2 * N / d**2 + 2 / d,
    )


class UnionBoundDerivation(NamedTuple):
    """Union bound P(any error) ≤ N(M − 1)exp(−1/(2Var)) with the §2.2 variance (Gaussian gap tail)."""

    log_bound: sp.Expr  # ln[N(M − 1)] − 1/(2 Var_spec)
    inverse_two_var_bijection: sp.Expr  # 1/(2 Var_spec) at M = N, = d²/(4N + 8d)
    condition_bijection: sp.Expr  # d² − (4N + 8d) ln(N(N − 1)/δ) ≥ 0  ⇔  bound ≤ δ (M = N)


@functools.cache
def derive_union_bound() -> UnionBoundDerivation:
    """§2.2: the union-bound capacity condition, and its M = N form d² ≥ (4N + 8d)·ln(N(N − 1)/δ)."""
    var = derive_hebbian_gap().var_spec
    log_bound = sp.log(N * (M - 1)) - 1 / (2 * var)
    inv = sp.factor(sp.simplify(1 / (2 * var.subs(M, N))))
    # bound ≤ δ ⇔ ln(N(N−1)/δ) ≤ 1/(2Var); multiply by the positive 4N + 8d
    cond = sp.expand(sp.simplify((inv - sp.log(N * (N - 1) / delta)) * (4 * N + 8 * d)))
    return UnionBoundDerivation(log_bound=log_bound, inverse_two_var_bijection=inv, condition_bijection=cond)


# ---------------------------------------------------------------------------------------------------------
# §2–§3 capacity laws N ln N = κ·area
# ---------------------------------------------------------------------------------------------------------


class CapacityLawDerivation(NamedTuple):
    """The law N ln N = κ·area (area = d² for linear memories, md for MLPs, §2.3, §3.2)."""

    N: sp.Expr  # κ·area / W(κ·area)
    loglog_slope: sp.Expr  # d ln N / d ln area = 1/(1 + 1/ln N), as a function of N


@functools.cache
def derive_capacity_law() -> CapacityLawDerivation:
    """Solve N ln N = κ·area with the Lambert W function and differentiate ln N in ln(area) (§2.3)."""
    Nsol = sp.solve(sp.Eq(N * sp.log(N), kappa * area), N)
    if len(Nsol) != 1:
        raise RuntimeError(f"N ln N = kappa*area: expected one positive root, got {Nsol}")
    s = sp.Symbol("s", real=True)  # s = ln(area)
    L = sp.Function("L")(s)  # L = ln N
    eq = L + sp.log(L) - sp.log(kappa) - s  # ln of N ln N = κ·area
    slope = sp.solve(sp.diff(eq, s), sp.diff(L, s))[0]
    return CapacityLawDerivation(N=Nsol[0], loglog_slope=sp.simplify(slope.subs(L, sp.log(N))))


# ---------------------------------------------------------------------------------------------------------
# §6.2 one-layer transformer parameter counts
# ---------------------------------------------------------------------------------------------------------

H, d_h, m = sp.symbols("H d_h m", positive=True)


class ParamCountDerivation(NamedTuple):
    """Parameter counts of the §6.1 one-layer transformer from its matrix shapes."""

    shapes: dict  # name → number of entries
    paper: sp.Expr  # P_paper: Q, K, V, O, W_1, W_2 (no b_1, no frozen embeddings) = 4Hd_h d + 2md
    trainable: sp.Expr  # P_paper + b_1
    storing: sp.Expr  # trainable minus Q and K, which route and store no facts


@functools.cache
def derive_param_counts() -> ParamCountDerivation:
    """Sum the entries of Q_h, K_h, V_h ∈ R^{d×d_h} (H heads), O ∈ R^{Hd_h×d}, W_1 ∈ R^{m×d}, b_1 ∈ R^m and
    W_2 ∈ R^{d×m} (§6.1)."""
    shapes = {
        "Q": H * d * d_h,
        "K": H * d * d_h,
        "V": H * d * d_h,
        "O": H * d_h * d,
        "W_1": m * d,
        "b_1": m,
        "W_2": d * m,
    }
    paper = sp.expand(sum(v for name, v in shapes.items() if name != "b_1"))
    trainable = sp.expand(sum(shapes.values()))
    storing = sp.expand(trainable - shapes["Q"] - shapes["K"])
    return ParamCountDerivation(shapes=shapes, paper=paper, trainable=trainable, storing=storing)


# ---------------------------------------------------------------------------------------------------------
# §8.4 sequential learning: per-token gradients at uniform prediction and escape times
# ---------------------------------------------------------------------------------------------------------


def _block_sum(blocks) -> sp.Expr:
    return sp.simplify(sum(m * v for v, m in blocks))


def _block_norm_sq(blocks) -> sp.Expr:
    return sp.factor(sp.simplify(sum(m * v**2 for v, m in blocks)))


class SequentialDerivation(NamedTuple):
    """Per-token mean gradients g_τ = E[count_τ(z)(e_y − p(z))] over the RD answers at uniform p (§8.4)."""

    rel_sum: sp.Expr  # Σ_a g_r(a) = 0
    subj_sum: sp.Expr  # Σ_a g_s(a) = 0
    rel_norm_sq: sp.Expr  # ‖g_r‖² = (1/D − 1/(RD))/R²
    subj_norm_sq: sp.Expr  # ‖g_s‖² = (1/R − 1/(RD))/S²
    subj_norm_sq_after: sp.Expr  # ‖g_s‖² once p(·|r) = Unif(𝒜_r)
    ratio: sp.Expr  # t_subj/t_rel = ‖g_r‖/‖g_s‖
    a_linear: sp.Expr  # a(t) of ȧ = g v∥, v̇∥ = g a, a(0) = a0, v∥(0) = 0
    v_linear: sp.Expr  # v∥(t)
    escape_linear: sp.Expr  # time at which a(t) = A: acosh(A/a0)/g
    escape_asymptotic: sp.Expr  # a0 → 0: (ln(1/a0) + ln 2A)/g
    escape_steps: sp.Expr  # (ln(1/a0) + c)/(η g) SGD steps
    hallucination_length: sp.Expr  # t_subj − t_rel in steps, with g_r, g_s substituted


@functools.cache
def derive_sequential() -> SequentialDerivation:
    """Gradients of the §8 linear-attention model at uniform predictions, structured table (§5, §8.4).

    Vectors over the RD answers are written as blocks (value, multiplicity). A relation token r is present
    with probability 1/R, and under the structured table (D | S) its answer is uniform on 𝒜_r; a subject s is
    present with probability 1/S and its answers a*(s, r), one per 𝒜_r, each have probability 1/R. The linear
    escape starts from a(0) = a0, v∥(0) = 0: the initial row a0·1 is orthogonal to g because Σ_a g(a) = 0.
    """
    U = 1 / (R * D)  # every entry of Unif(𝒜)
    rel = [((1 / D - U) / R, D), (-U / R, (R - 1) * D)]
    subj = [((1 / R - U) / S, R), (-U / S, R * D - R)]
    # after the relation stage p(·|r) = Unif(𝒜_r): the R answers of s, then the other D − 1 of each 𝒜_r
    subj_after = [((1 - 1 / D) / (R * S), R), (-1 / (D * R * S), R * (D - 1))]
    rel_sq, subj_sq = _block_norm_sq(rel), _block_norm_sq(subj)
    ratio = sp.simplify(sp.sqrt(rel_sq) / sp.sqrt(subj_sq))

    a, v = sp.Function("a"), sp.Function("v")
    sol = sp.dsolve(
        [sp.Eq(a(t).diff(t), g * v(t)), sp.Eq(v(t).diff(t), g * a(t))],
        [a(t), v(t)],
        ics={a(0): a0, v(0): 0},
    )
    a_t = sp.simplify(sol[0].rhs.rewrite(sp.cosh))
    v_t = sp.simplify(sol[1].rhs.rewrite(sp.cosh))
    esc = sp.acosh(A / a0) / g
    esc_asym = (sp.log(1 / a0) + sp.log(2 * A)) / g
    steps = (sp.log(1 / a0) + c) / (eta * g)
    hall = sp.simplify(steps.subs(g, sp.sqrt(subj_sq)) - steps.subs(g, sp.sqrt(rel_sq)))
    return SequentialDerivation(
        rel_sum=_block_sum(rel),
        subj_sum=_block_sum(subj),
        rel_norm_sq=rel_sq,
        subj_norm_sq=subj_sq,
        subj_norm_sq_after=_block_norm_sq(subj_after),
        ratio=ratio,
        a_linear=a_t,
        v_linear=v_t,
        escape_linear=esc,
        escape_asymptotic=esc_asym,
        escape_steps=steps,
        hallucination_length=hall,
    )


# ---------------------------------------------------------------------------------------------------------
# §9 Cabannes et al.: Zipf asymptotics, scheme exponents, gradient memories, margin recursion
# ---------------------------------------------------------------------------------------------------------


class ZipfAsymptotics(NamedTuple):
    """Large-N, large-T forms for p(x) = x^{−α}/Z (α = 1 + k > 1; Z = ζ(α) as N → ∞), sums as integrals."""

    unseen: sp.Expr  # Σ p e^{−Tp} ≈ Γ(1 − 1/α) T^{−(α−1)/α} / (α Z^{1/α})
    distinct: sp.Expr  # Σ (1 − e^{−Tp}) ≈ Γ(1 − 1/α)(T/Z)^{1/α}
    tail: sp.Expr  # Σ_{x>K} p ≈ K^{1−α}/((α − 1) Z)
    unseen_exponent: sp.Expr  # −(α − 1)/α


@functools.cache
def derive_zipf_asymptotics() -> ZipfAsymptotics:
    """Unseen mass, expected distinct seen tokens and tail mass of Zipf(α) (§9.3), with (1 − p)^T ≈ e^{−Tp}.

    The unseen-mass integral ∫p e^{−Tp}dx is taken in u = T·p(x) (x = (T/(Zu))^{1/α}), which turns it into
    T^{1/α−1}Z^{−1/α}/α·∫u^{−1/α}e^{−u}du; the upper limit u = T/Z → ∞. The distinct-token integral
    ∫(1 − e^{−Tp})dx is integrated by parts (the boundary term vanishes for α > 1) into αT·∫p e^{−Tp}dx.
    """
    u = sp.Symbol("u", positive=True)
    x_of_u = (T / (Z * u)) ** (1 / alpha)
    p_of_u = sp.simplify(x_of_u ** (-alpha) / Z)  # = u/T
    jac = sp.simplify(-sp.diff(x_of_u, u))  # x decreases in u
    integrand = sp.powsimp(sp.simplify(p_of_u * sp.exp(-T * p_of_u) * jac), force=True)
    unseen = sp.simplify(sp.expand_func(sp.integrate(integrand, (u, 0, sp.oo))))
    distinct = sp.powsimp(sp.cancel(alpha * T * unseen), force=True)
    tail = sp.simplify(sp.integrate(x ** (-alpha) / Z, (x, K, sp.oo)))
    expo = sp.simplify(T * sp.diff(unseen, T) / unseen)
    return ZipfAsymptotics(unseen=unseen, distinct=distinct, tail=tail, unseen_exponent=expo)


class SchemeExponents(NamedTuple):
    """Error exponents of the §9.3 schemes (error ≍ d^{exponent} or T^{exponent})."""

    power_cutoff: sp.Expr  # x* = d^{1/(2αρ)}: x is recalled iff q(x) ∝ x^{−αρ} exceeds the noise d^{−1/2}
    power: sp.Expr  # error ∝ x*^{1−α}: exponent (1 − α)/(2αρ) in d, valid for ρ > 1/(2α)
    frequency: sp.Expr  # ρ = 1: (1 − α)/(2α)
    power_limit: sp.Expr  # ρ → 1/(2α)⁺: 1 − α
    threshold_d: sp.Expr  # K ∝ d: tail exponent 1 − α
    threshold_T: sp.Expr  # unseen mass: (1 − α)/α
    balance: sp.Expr  # d at which d^{1−α} = T^{(1−α)/α}: T^{1/α}
    noise_sq: sp.Expr  # ∫_1^∞ x^{−2αρ} dx = 1/(2αρ − 1): ‖q‖² stays bounded in N iff 2αρ > 1


@functools.cache
def derive_scheme_exponents() -> SchemeExponents:
    """§9.3 heuristic: the noise of W_q is ≈ ‖q‖₂/√d, so x is stored iff q(x) ≳ ‖q‖₂ d^{−1/2}."""
    x_star = sp.solve(sp.Eq(x ** (-alpha * rho), d ** sp.Rational(-1, 2)), x)[0]
    err = x_star ** (1 - alpha)
    power = sp.simplify(d * sp.diff(err, d) / err)
    tail_d = d ** (1 - alpha)
    thr_d = sp.simplify(d * sp.diff(tail_d, d) / tail_d)
    thr_T = derive_zipf_asymptotics().unseen_exponent
    bal = sp.solve(sp.Eq(sp.log(tail_d), sp.expand_log(sp.log(T**thr_T), force=True)), d)[0]
    noise = sp.integrate(x ** (-2 * alpha * rho), (x, 1, sp.oo), conds="none")
    return SchemeExponents(
        power_cutoff=sp.simplify(x_star),
        power=power,
        frequency=sp.simplify(power.subs(rho, 1)),
        power_limit=sp.simplify(sp.limit(power, rho, 1 / (2 * alpha), "+")),
        threshold_d=thr_d,
        threshold_T=thr_T,
        balance=sp.simplify(bal),
        noise_sq=sp.simplify(noise),
    )


class OneStepDerivation(NamedTuple):
    """Cross-entropy gradient of logits u_yᵀWe_x at W = 0 on an explicit small problem (§1.2)."""

    neg_gradient: sp.Matrix  # −∇_W L at W = 0 [d, d]
    memory: sp.Matrix  # Σ_x p(x)(u_{f*(x)} − ū)e_xᵀ [d, d]
    difference: sp.Matrix  # simplified neg_gradient − memory (zero)


@functools.cache
def derive_one_step_memory(N_in: int = 2, M_out: int = 3, dim: int = 2) -> OneStepDerivation:
    """−∇_W L(0) = Σ_x p(x)(u_{f*(x)} − ū)e_xᵀ for L = Σ_x p(x)·CE(softmax(U W e_x), f*(x)), f*(x) = x mod M."""
    E = sp.Matrix(N_in, dim, lambda i, j: sp.Symbol(f"e_{i}{j}", real=True))
    U = sp.Matrix(M_out, dim, lambda i, j: sp.Symbol(f"u_{i}{j}", real=True))
    W = sp.Matrix(dim, dim, lambda i, j: sp.Symbol(f"W_{i}{j}", real=True))
    p = [sp.Symbol(f"p_{i}", positive=True) for i in range(N_in)]
    loss = 0
    for i in range(N_in):
        logits = U * W * E[i, :].T
        y = i % M_out
        loss += p[i] * (sp.log(sum(sp.exp(z) for z in logits)) - logits[y])
    zero = {w: 0 for w in W}
    neg = W.applyfunc(lambda w: -sp.diff(loss, w).subs(zero))
    ubar = sum((U[j, :] for j in range(M_out)), sp.zeros(1, dim)) / M_out
    mem = sum(((U[i % M_out, :] - ubar).T * E[i, :] * p[i] for i in range(N_in)), sp.zeros(dim, dim))
    diff = (neg - mem).applyfunc(lambda z: sp.simplify(z))
    return OneStepDerivation(neg_gradient=neg, memory=mem, difference=diff)


class MarginDerivation(NamedTuple):
    """Margin recursion q ← q + γ/(1 + e^q/(M − 1)) (§9.4) and its continuum limit."""

    increment: sp.Expr  # −dCE/dq for logits (q, 0, …, 0): (M − 1)/(e^q + M − 1)
    invariant: sp.Expr  # F(q) = q + (e^q − 1)/(M − 1); the continuum solution has F(q) = γn
    solution: sp.Expr  # q(n) by Lambert W
    small_q_rate: sp.Expr  # increment at q = 0 per unit γ: (M − 1)/M


@functools.cache
def derive_margin_recursion() -> MarginDerivation:
    """Cross-entropy margin growth: increment from the softmax, continuum dq/dn = γ·increment by separation."""
    loss = -sp.log(sp.exp(q) / (sp.exp(q) + Mm1))  # M − 1 competitors at logit 0
    inc = sp.simplify(-sp.diff(loss, q))
    s = sp.Symbol("s", positive=True)
    F = sp.simplify(sp.integrate(1 / inc.subs(q, s), (s, 0, q)))
    sol = sp.solve(sp.Eq(F, gamma * n), q)
    if len(sol) != 1:
        raise RuntimeError(f"margin continuum: expected one root, got {sol}")
    return MarginDerivation(
        increment=inc, invariant=sp.expand(F), solution=sol[0], small_q_rate=sp.simplify(inc.subs(q, 0))
    )


# ---------------------------------------------------------------------------------------------------------
# lambdified helpers
# ---------------------------------------------------------------------------------------------------------


@functools.cache
def lambdified(name: str):
    """numpy function of a derivation, built once (``sympy.lambdify(..., modules='numpy', cse=True)``).

    ``hebbian_var_<embeddings>`` (N, M, d) for spec, sphere, gaussian, gaussian_inputs, gaussian_outputs;
    ``hebbian_var_general`` (N, n_a, n_b, d, mu_e, mu_u); ``rel_norm``, ``subj_norm`` (S, R, D); ``capacity_slope`` (N);
    ``param_counts`` (H, d_h, d, m) → (paper, trainable, storing).
    """
    lf = functools.partial(sp.lambdify, modules="numpy", cse=True)
    if name.startswith("hebbian_var_"):
        gap = derive_hebbian_gap()
        key = name.removeprefix("hebbian_var_")
        if key == "general":
            return lf((N, n_a, n_b, d, mu_e, mu_u), gap.var_general)
        expr = getattr(gap, f"var_{key}", None)
        if expr is None:
            raise ValueError(f"unknown derivation name {name!r}")
        return lf((N, M, d), expr)
    if name == "param_counts":
        pc = derive_param_counts()
        return lf((H, d_h, d, m), (pc.paper, pc.trainable, pc.storing))
    if name == "capacity_slope":
        return lf((N,), derive_capacity_law().loglog_slope)
    if name in ("rel_norm", "subj_norm"):
        seq = derive_sequential()
        expr = seq.rel_norm_sq if name == "rel_norm" else seq.subj_norm_sq
        return lf((S, R, D), sp.sqrt(expr))
    raise ValueError(f"unknown derivation name {name!r}")
