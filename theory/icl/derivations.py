"""Symbolic derivations for in-context linear regression with linear attention (icl_linear_attention.md).

Every ``derive_*`` function returns sympy expressions (in a NamedTuple) and is cached, so the numeric
helpers of ``attn_m``, ``attn_s`` and ``modes`` lambdify each one once. Paper units throughout: τ = 1,
attention normalized by 1/N, un-halved MSE L = E(y_q − ŷ_q)², every model predicts ŷ_q = βᵀ M x_q.

Scalar symbols shared by the derivations (positive unless stated): ``lam`` (an eigenvalue λ_d of Λ),
``trLam`` (tr Λ), ``N`` (context pairs), ``D`` (token dimension), ``c`` (Λ = cI), ``w_init``, ``t`` (time,
non-negative), ``u`` (v / v*), ``v``, ``v0``, ``kappa`` (κ_λ of Eq. 21).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import sympy as sp
from sympy.utilities.iterables import multiset_partitions

lam, trLam, N, D, c, w_init, kappa = sp.symbols("lam trLam N D c w_init kappa", positive=True)
t = sp.Symbol("t", nonnegative=True)
u, v, v0 = sp.symbols("u v v0", positive=True)


# ---------------------------------------------------------------------------------------------------------
# §4 population moments, by Isserlis/Wick pairings
# ---------------------------------------------------------------------------------------------------------


def wick_expectation(factors, cov) -> sp.Expr:
    """E[Π factors] for zero-mean jointly Gaussian scalars (Isserlis): Σ over perfect pairings of Π cov.

    ``factors`` is a sequence of hashable labels and ``cov(a, b)`` their covariance; a zero covariance
    prunes the pairing, so independent groups factorize without special handling.
    """
    factors = tuple(factors)
    if not factors:
        return sp.Integer(1)
    if len(factors) % 2:
        return sp.Integer(0)
    first, rest = factors[0], factors[1:]
    total = sp.Integer(0)
    for k, other in enumerate(rest):
        cv = cov(first, other)
        if cv != 0:
            total += cv * wick_expectation(rest[:k] + rest[k + 1 :], cov)
    return total


def _falling_factorial(n, k: int):
    out = sp.Integer(1)
    for j in range(k):
        out *= n - j
    return out


def _context_expectation(monomial, Lam: sp.Matrix, n_ctx) -> sp.Expr:
    """E[monomial] for the regression task of §2.1 with N = ``n_ctx`` context pairs.

    ``monomial`` is a list of tokens ("w", i) (task vector), ("xq", i) (query) and ("Lhat", i, j)
    (Λ̂_ij = (1/N) Σ_n x_{n,i} x_{n,j}). The sums over context indices are exact: the Λ̂ factors are split by
    which of them share a sample n (set partitions of the factors, each block of p distinct samples counted
    N(N−1)…(N−p+1) times), and every resulting Gaussian moment is expanded by Wick pairings.
    """
    fixed = [tok for tok in monomial if tok[0] != "Lhat"]
    lhats = [tok for tok in monomial if tok[0] == "Lhat"]

    def cov(a, b):
        if a[0] != b[0] or a[1] != b[1]:
            return 0
        if a[0] == "w":
            return sp.Integer(1) if a[2] == b[2] else 0
        return Lam[a[2], b[2]]

    base = [(tok[0], 0, tok[1]) for tok in fixed]
    if not lhats:
        return wick_expectation(base, cov)
    total = sp.Integer(0)
    for partition in multiset_partitions(list(range(len(lhats)))):
        sample = {}
        for block_id, block in enumerate(partition):
            for pos in block:
                sample[pos] = block_id
        factors = list(base)
        for pos, tok in enumerate(lhats):
            factors += [("x", sample[pos], tok[1]), ("x", sample[pos], tok[2])]
        total += _falling_factorial(n_ctx, len(partition)) * wick_expectation(factors, cov)
    return total / n_ctx ** len(lhats)


def _beta_tokens(i: int, b: int):
    """Tokens of one term of β_i = Σ_b Λ̂_ib w_b (Eq. 4)."""
    return [("Lhat", i, b), ("w", b)]


def _symbolic_cov(Dn: int, diagonal: bool) -> sp.Matrix:
    if diagonal:
        return sp.diag(*sp.symbols(f"lambda_1:{Dn + 1}", positive=True))
    entries = [[None] * Dn for _ in range(Dn)]
    for i in range(Dn):
        for j in range(i, Dn):
            s = sp.Symbol(f"Lambda_{i + 1}{j + 1}", real=True)
            entries[i][j] = entries[j][i] = s
    return sp.Matrix(entries)


class PopulationMomentsDerivation(NamedTuple):
    """Population moments of §4 on a symbolic Λ [D, D] (all ImmutableMatrix / Expr)."""

    Lam: sp.ImmutableMatrix  # Λ [D, D]
    Lam_hat_sq: sp.ImmutableMatrix  # E[Λ̂²] [D, D]
    beta_beta: sp.ImmutableMatrix  # E[ββᵀ] [D, D]
    y_beta_xq: sp.ImmutableMatrix  # E[y_q β x_qᵀ] [D, D]
    zz: sp.ImmutableMatrix  # E[zzᵀ], z = x_q ⊗ β = vec(β x_qᵀ) column-major [D², D²]
    yy: sp.Expr  # E[y_q²]


@functools.cache
def derive_population_moments(D: int = 2, diagonal: bool = False) -> PopulationMomentsDerivation:
    """Derive E[Λ̂²], E[ββᵀ], E[y_q β x_qᵀ], E[zzᵀ], E[y_q²] (§4) by Wick pairings, N kept symbolic.

    Λ is a general symmetric symbolic matrix (``diagonal=False``) or diagonal with positive symbols.
    """
    Lam = _symbolic_cov(D, diagonal)
    rng = range(D)
    E = functools.partial(_context_expectation, Lam=Lam, n_ctx=N)

    def simp(x):
        # entries are polynomials in Λ and 1/N, for which expand is canonical
        return sp.expand(x)

    lhat_sq = sp.Matrix(D, D, lambda i, j: simp(sum(E([("Lhat", i, k), ("Lhat", k, j)]) for k in rng)))
    bb = sp.Matrix(
        D, D, lambda i, j: simp(sum(E(_beta_tokens(i, b) + _beta_tokens(j, e)) for b in rng for e in rng))
    )
    ybx = sp.Matrix(
        D, D, lambda i, j: simp(sum(E([("w", a), ("xq", a), ("xq", j)] + _beta_tokens(i, b)) for a in rng for b in rng))
    )

    def zz_entry(p, q):
        # column-major vec: z[j·D + i] = β_i x_{q,j}
        j, i = divmod(p, D)
        l, k = divmod(q, D)
        return simp(
            sum(E([("xq", j), ("xq", l)] + _beta_tokens(i, b) + _beta_tokens(k, e)) for b in rng for e in rng)
        )

    zz = sp.Matrix(D * D, D * D, zz_entry)
    yy = simp(sum(E([("w", a), ("xq", a), ("w", b), ("xq", b)]) for a in rng for b in rng))
    return PopulationMomentsDerivation(
        sp.ImmutableMatrix(Lam),
        sp.ImmutableMatrix(lhat_sq),
        sp.ImmutableMatrix(bb),
        sp.ImmutableMatrix(ybx),
        sp.ImmutableMatrix(zz),
        yy,
    )


def _expected_loss(Lam: sp.Matrix, M: sp.Matrix, n_ctx) -> sp.Expr:
    """E(y_q − βᵀ M x_q)² by Wick pairings, skipping zero entries of M."""
    Dn = Lam.shape[0]
    rng = range(Dn)
    E = functools.partial(_context_expectation, Lam=Lam, n_ctx=n_ctx)
    nz = [(i, j) for i in rng for j in rng if M[i, j] != 0]
    yy = sum(E([("w", a), ("xq", a), ("w", b), ("xq", b)]) for a in rng for b in rng)
    cross = sum(
        M[i, j] * E([("w", a), ("xq", a), ("xq", j)] + _beta_tokens(i, b)) for (i, j) in nz for a in rng for b in rng
    )
    quad = sum(
        M[i, j] * M[k, l] * E([("xq", j), ("xq", l)] + _beta_tokens(i, b) + _beta_tokens(k, e))
        for (i, j) in nz
        for (k, l) in nz
        for b in rng
        for e in rng
    )
    return sp.expand(yy - 2 * cross + quad)


class LossDerivation(NamedTuple):
    """L(M) = E(y_q − βᵀ M x_q)² (§4) on symbolic Λ [D, D] and M [D, D]."""

    Lam: sp.ImmutableMatrix
    M: sp.ImmutableMatrix
    loss: sp.Expr


@functools.cache
def derive_loss(D: int = 2, diagonal: bool = False) -> LossDerivation:
    """Derive the population loss L(M) of §4 by Wick pairings for a full symbolic M [D, D]."""
    Lam = _symbolic_cov(D, diagonal)
    M = sp.Matrix(D, D, lambda i, j: sp.Symbol(f"M_{i + 1}{j + 1}", real=True))
    return LossDerivation(sp.ImmutableMatrix(Lam), sp.ImmutableMatrix(M), _expected_loss(Lam, M, N))


# ---------------------------------------------------------------------------------------------------------
# §1, §5.5, §6.2–6.3: per-eigenmode quantities
# ---------------------------------------------------------------------------------------------------------


class ModeSolution(NamedTuple):
    """Per-eigenmode quantities as functions of (lam, trLam, N)."""

    kappa: sp.Expr  # κ_d = E[Λ̂²]_dd / λ_d² (§1)
    gamma: sp.Expr  # non-zero stationary coefficient of e_d e_dᵀ in M: Γ*_dd = 1/(λκ) (§5.5, C1 of §6.2)
    drop: sp.Expr  # loss removed by learning mode d: λ/κ (Eq. 19; drop sizes of §6.3)
    head_magnitude: sp.Expr  # balanced |v| = ‖k‖ = ‖q‖ with v‖k‖‖q‖ = Γ*_dd: (λκ)^(−1/3) (Eq. 20)


@functools.cache
def derive_mode_solution() -> ModeSolution:
    """Derive κ, Γ*_dd, the loss drop and the head magnitude of one eigenmode (§1, §5.5, §6.2–6.4).

    On a diagonal symbolic Λ (D = 3) and a diagonal M = diag(m_1, m_2, m_3), the Wick-derived loss separates
    over modes. The stationary points of mode 1 are m_1 = 0 and m_1 = Γ*_11; the drop is the loss difference.
    The other two eigenvalues enter only through tr Λ, which the result is rewritten in.
    """
    Dn = 3
    mom = derive_population_moments(Dn, diagonal=True)
    Lam = mom.Lam
    lams = [Lam[d, d] for d in range(Dn)]
    ms = sp.symbols(f"m_1:{Dn + 1}", real=True)
    L = _expected_loss(Lam, sp.diag(*ms), N)
    kappa1 = mom.Lam_hat_sq[0, 0] / lams[0] ** 2
    roots = sp.solve(sp.diff(L, ms[0]), ms[0])
    if len(roots) != 1:
        raise RuntimeError("the loss is not quadratic in one mode")
    gamma1 = roots[0]
    drop1 = L.subs(ms[0], 0) - L.subs(ms[0], gamma1)

    to_spectrum = {lams[0]: lam, lams[2]: trLam - lam - lams[1]}

    def rewrite(expr):
        out = sp.factor(sp.simplify(expr.subs(to_spectrum)))
        if not out.free_symbols <= {lam, trLam, N}:
            raise RuntimeError(f"mode quantity depends on other eigenvalues: {out}")
        return out

    g = rewrite(gamma1)
    return ModeSolution(rewrite(kappa1), g, rewrite(drop1), g ** sp.Rational(1, 3))


class OptimalMatrixDerivation(NamedTuple):
    """Γ* solving G(M) = 0 for a general symmetric symbolic Λ [D, D] (§5.5, Eq. 11)."""

    Lam: sp.ImmutableMatrix
    Gamma: sp.ImmutableMatrix


@functools.cache
def derive_optimal_matrix(D: int = 2) -> OptimalMatrixDerivation:
    """Minimize the Wick-derived L(M) over all M [D, D]: the stationarity equations are linear in M."""
    der = derive_loss(D)
    entries = list(der.M)
    sol = sp.solve([sp.diff(der.loss, m) for m in entries], entries, dict=True)
    if len(sol) != 1:
        raise RuntimeError("the loss has no unique stationary point")
    Gamma = der.M.subs(sol[0]).applyfunc(sp.simplify)
    return OptimalMatrixDerivation(der.Lam, sp.ImmutableMatrix(Gamma))


# ---------------------------------------------------------------------------------------------------------
# §5.4: ATTN_M for Λ = cI from the aligned, balanced init
# ---------------------------------------------------------------------------------------------------------


class WhiteSolution(NamedTuple):
    """σ(t) with M(t) = σ(t) I for Λ = cI (Eq. 10), in the symbols t, D, N, w_init, c."""

    sigma_symbol: sp.Symbol  # σ, the variable of ``rate`` and ``loss_of_sigma``
    decay_symbol: sp.Symbol  # Y = e^{−rt}, the variable of ``sigma_of_decay``
    rate: sp.Expr  # dσ/dt as a function of σ
    r: sp.Expr  # growth rate at σ → 0: 2c²√D
    sigma: sp.Expr  # σ(t) solving the reduced ODE with σ(0) = w_init²/√D
    sigma_of_decay: sp.Expr  # the same σ written in Y = e^{−rt} (finite for every t ≥ 0)
    sigma_inf: sp.Expr  # lim σ(t), t → ∞
    loss_of_sigma: sp.Expr  # L(σ I)
    loss: sp.Expr  # L(t) along σ(t)
    t_half: sp.Expr  # σ(t_1/2) = σ(∞)/2
    t_mid: sp.Expr  # L(t_mid) = (L(σ=0) + L(σ=∞))/2


@functools.cache
def derive_white_solution() -> WhiteSolution:
    """Reduce the ATTN_M flow (Eq. 8) to one scalar ODE for Λ = cI and solve it with ``dsolve``.

    With U_i = v_i I/√D (aligned and balanced), M = Σ v_i U_i = σ I with σ = ‖v‖²/√D. The error signal is
    G = g I with g = c² − c·s2·σ, s2 = E[Λ̂²]/I; then dv_i/dt = ⟨U_i, G⟩ = √D g v_i and dU_i/dt = v_i G keeps
    U_i = v_i I/√D, so dσ/dt = (2/√D) Σ v_i dv_i/dt = 2√D g σ (a Bernoulli/logistic ODE: Saxe's single mode).
    """
    sig = sp.Symbol("sigma", positive=True)
    Y = sp.Symbol("Y", positive=True)
    # E[Λ̂²] for Λ = cI, read off the Wick-derived per-mode κ
    kap = derive_mode_solution().kappa.subs({lam: c, trLam: D * c})
    s2 = c**2 * kap
    g = c**2 - s2 * c * sig
    rate = sp.expand(2 * sp.sqrt(D) * g * sig)
    f = sp.Function("sigma_t")
    sol = sp.dsolve(
        sp.Eq(f(t).diff(t), rate.subs(sig, f(t))), f(t), ics={f(0): w_init**2 / sp.sqrt(D)}, hint="Bernoulli"
    )
    sigma_t = sp.simplify(sol.rhs)
    sigma_inf = sp.simplify(sp.limit(sigma_t, t, sp.oo))
    # L(σ I) = tr Λ − 2 tr(MΛ²) + tr(Mᵀ E[Λ̂²] M Λ) with all matrices ∝ I: a factor D per trace
    loss_sig = sp.expand(D * c - 2 * D * c**2 * sig + D * s2 * c * sig**2)

    # σ(t) is a Möbius function of Y = e^{−rt}: solve for Y, then t = −ln(Y)/r
    r = sp.simplify(sp.diff(rate, sig).subs(sig, 0))
    sigma_Y = sp.factor(sp.simplify(sigma_t.subs(t, -sp.log(Y) / r)))

    def time_at(level):
        roots = [y for y in sp.solve(sp.Eq(sigma_Y, level), Y) if y.is_positive is not False]
        if len(roots) != 1:
            raise RuntimeError(f"no unique crossing of sigma = {level}")
        return sp.simplify(-sp.log(roots[0]) / r)

    t_half = time_at(sigma_inf / 2)
    L0, Linf = loss_sig.subs(sig, 0), loss_sig.subs(sig, sigma_inf)
    levels = sp.solve(sp.Eq(loss_sig, (L0 + Linf) / 2), sig)
    # the loss is a parabola with its minimum at σ(∞); the trajectory reaches the lower root first
    below = [s for s in levels if sp.simplify(s - sigma_inf).is_negative]
    if len(below) != 1:
        raise RuntimeError("no unique loss-midpoint level below sigma_inf")
    t_mid = time_at(below[0])
    return WhiteSolution(
        sig, Y, rate, r, sigma_t, sigma_Y, sigma_inf, loss_sig, loss_sig.subs(sig, sigma_t), t_half, t_mid
    )


def white_closed_forms() -> dict[str, sp.Expr]:
    """The hand-written forms of §5.4 (Eq. 10 and its cI form) in the same symbols, for comparison."""
    kap = 1 + (1 + D) / N
    r = 2 * c**2 * sp.sqrt(D)
    A = sp.sqrt(D) / w_init**2
    # multiplied through by e^{−rt} so that it stays finite for large t
    sigma = 1 / (c * kap * (1 - sp.exp(-r * t)) + A * sp.exp(-r * t))
    return {
        "kappa": kap,
        "rate": r,
        "sigma": sigma,
        "sigma_inf": 1 / (c * kap),
        "loss": D * c - 2 * D * c**2 * sigma + D * c**3 * kap * sigma**2,
        "t_half": sp.log(A / (c * kap) - 1) / r,
        "t_mid": sp.log((sp.sqrt(2) - 1) * (A / (c * kap) - 1)) / r,
    }


class EscapeRateDerivation(NamedTuple):
    """Growth rate of the ATTN_M flow linearized at the origin, diagonal symbolic Λ [D, D] (§5.3)."""

    Lam: sp.ImmutableMatrix
    top_rate: sp.Expr  # largest eigenvalue of the linearization = ‖Λ²‖_F
    white_escape_coefficient: sp.Expr  # lim_{w→0} t_1/2 / ln(1/w_init) for Λ = cI = 1/‖Λ²‖_F


@functools.cache
def derive_attn_m_escape_rate(D: int = 2) -> EscapeRateDerivation:
    """Linearize Eq. 8 at W = 0 (one head): d/dt (vec U, v) = [[0, g], [gᵀ, 0]] (vec U, v), g = vec E[y_q β x_qᵀ].

    Its top eigenvalue ‖g‖ = ‖Λ²‖_F sets the escape time ln(1/w_init)/‖Λ²‖_F. The same coefficient follows
    from the exact white solution: t_1/2 / ln(1/w_init) → 1/(c²√D) = 1/‖(cI)²‖_F as w_init → 0.
    """
    mom = derive_population_moments(D, diagonal=True)
    gvec = list(mom.y_beta_xq.T.reshape(D * D, 1))  # column-major vec
    n = D * D + 1
    A = sp.zeros(n, n)
    for k, gk in enumerate(gvec):
        A[k, n - 1] = gk
        A[n - 1, k] = gk
    eig = [sp.simplify(e) for e in A.eigenvals()]
    top = [e for e in eig if e.is_positive]
    if len(top) != 1:
        raise RuntimeError(f"linearization has no unique growing mode: {eig}")
    coeff = sp.limit(derive_white_solution().t_half / sp.log(1 / w_init), w_init, 0)
    return EscapeRateDerivation(mom.Lam, top[0], sp.simplify(coeff))


# ---------------------------------------------------------------------------------------------------------
# §6.4: scalar ODE (Eq. 21) and ATTN_S escape
# ---------------------------------------------------------------------------------------------------------


class ScalarODESolution(NamedTuple):
    """Eq. 21, τ dv/dt = λ²v² − λ³κ v⁵, in the symbols v, v0, lam, kappa, u."""

    rhs: sp.Expr  # λ²v² − λ³κv⁵
    v_star: sp.Expr  # positive fixed point
    F_integral: sp.Expr  # sympy's antiderivative of 1/(u²(1−u³)) (complex branch of log allowed)
    F: sp.Expr  # the real form of §6.4 (F' = 1/(u²(1−u³)) on (0, 1))
    time: sp.Expr  # t(v; v0) = [F(v/v*) − F(v0/v*)] / (λ² v*)


@functools.cache
def derive_scalar_ode() -> ScalarODESolution:
    """Separate Eq. 21: dt = dv/(a v² − b v⁵), a = λ², b = λ³κ; with v = v*u it becomes du/(a v* u²(1 − u³))."""
    a, b = lam**2, lam**3 * kappa
    rhs = a * v**2 - b * v**5
    fixed = [s for s in sp.solve(sp.Eq(rhs / v**2, 0), v) if s.is_positive]
    if len(fixed) != 1:
        raise RuntimeError("Eq. 21 has no unique positive fixed point")
    v_star = sp.simplify(fixed[0])
    # change of variables v = v*·u in dv/(a v² − b v⁵), then pull out the constant 1/(a v*)
    integrand = sp.simplify((v_star / rhs.subs(v, v_star * u)) * a * v_star)
    F_integral = sp.integrate(integrand, u)
    F = -1 / u - sp.log(1 - u) / 3 + sp.log(1 + u + u**2) / 6 - sp.atan((2 * u + 1) / sp.sqrt(3)) / sp.sqrt(3)
    time = (F.subs(u, v / v_star) - F.subs(u, v0 / v_star)) / (a * v_star)
    return ScalarODESolution(rhs, v_star, F_integral, F, time)


class ATTNSEscapeDerivation(NamedTuple):
    """Early phase of Eq. 21, dv/dt ≈ λ²v², v(0) = v0 (§6.4)."""

    v_early: sp.Expr  # v(t) = v0 / (1 − λ² v0 t)
    blowup_time: sp.Expr  # 1/(λ² v0)


@functools.cache
def derive_attn_s_escape() -> ATTNSEscapeDerivation:
    """Solve the quadratic early phase of Eq. 21 and locate its finite-time blow-up."""
    f = sp.Function("v_t")
    sol = sp.dsolve(sp.Eq(f(t).diff(t), lam**2 * f(t) ** 2), f(t), ics={f(0): v0})
    v_early = sp.simplify(sol.rhs)
    poles = sp.solve(sp.Eq(1 / v_early, 0), t)
    if len(poles) != 1:
        raise RuntimeError("early-phase solution has no unique blow-up time")
    return ATTNSEscapeDerivation(v_early, sp.simplify(poles[0]))


# ---------------------------------------------------------------------------------------------------------
# §5.5, §6.3, §6.5: N → ∞
# ---------------------------------------------------------------------------------------------------------


class LargeNLimits(NamedTuple):
    """N → ∞ limits (claim #22) on a diagonal symbolic Λ = diag(λ_1..λ_D)."""

    Lam: sp.ImmutableMatrix
    plateau_losses: tuple  # lim L(M_m), m = 0..D
    optimal_matrix: sp.ImmutableMatrix  # lim Γ* for the diagonal Λ
    optimal_matrix_general: sp.ImmutableMatrix  # lim Γ* for a general symmetric 2×2 Λ (derive_optimal_matrix)
    pcr_coefficient: sp.Expr  # lim Γ*_dd = lim 1/(λκ), in the symbol lam
    pcr_projector: sp.Expr  # lim λ·Γ*_dd: β → Λw turns Eq. 22 into wᵀ(Σ_{d≤m} e_d e_dᵀ)x_q


@functools.cache
def derive_large_N_limits(D: int = 4) -> LargeNLimits:
    """``sympy.limit`` as N → ∞ of the plateau losses, Γ* and the PCR coefficient (§5.5, §6.3, §6.5)."""
    modes = derive_mode_solution()
    Lam = sp.diag(*sp.symbols(f"lambda_1:{D + 1}", positive=True))
    lams = [Lam[d, d] for d in range(D)]
    tr = sum(lams)
    drops = [modes.drop.subs({lam: ld, trLam: tr}, simultaneous=True) for ld in lams]
    plateaus = tuple(sp.simplify(sp.limit(tr - sum(drops[:m]), N, sp.oo)) for m in range(D + 1))
    gamma_diag = sp.diag(*[modes.gamma.subs({lam: ld, trLam: tr}, simultaneous=True) for ld in lams])
    gamma_lim = gamma_diag.applyfunc(lambda e: sp.simplify(sp.limit(e, N, sp.oo)))
    general = derive_optimal_matrix(2).Gamma.applyfunc(lambda e: sp.simplify(sp.limit(e, N, sp.oo)))
    pcr = sp.simplify(sp.limit(modes.gamma, N, sp.oo))
    proj = sp.simplify(sp.limit(lam * modes.gamma, N, sp.oo))
    return LargeNLimits(
        sp.ImmutableMatrix(Lam), plateaus, sp.ImmutableMatrix(gamma_lim), sp.ImmutableMatrix(general), pcr, proj
    )
