"""Memory update rules as one step of online optimisation (test_time_memory.md §2.3, §3).

Orientation: memory W = M [d_v, d_k], write with key k [d_k], read y = W q. Prediction error e = W_prev k − v,
ℓ2(W; k, v) = ½‖Wk − v‖² so ∇ℓ2 = e kᵀ. Every ``derive_<rule>`` works with explicit symbol matrices of a small
size (d_k, d_v ∈ {1, 2, 3}) and returns a :class:`Derivation`: the objective, the closed-form update as the spec
states it, and a residual that vanishes exactly when the closed form is what the spec says it is:

- ``kind="argmin"``: the residual holds ∇objective at the closed update (stationarity of a strictly convex
  objective, hence the unique minimiser) and the difference from sympy's own solution of the stationarity
  equations;
- ``kind="linearised argmin"``: the same, for the objective whose bias is linearised at the previous state, plus
  the identity "update = one gradient step of the stated loss";
- ``kind="KKT"``: stationarity of the Lagrangian on a constraint set (gradient constant across entries) and
  feasibility;
- ``kind="identity"``: an exact algebraic identity between two closed forms (GDN vs Miras-gated delta);
- ``kind="recurrence"``: an identity between two forms of a recurrence that is not an argmin (Titans);
- ``kind="definition"``: the stated map is a definition; the residual certifies the facts the spec states about
  it (gradient of the bias, reductions, homogeneity).

The generic recipe is :func:`derive_one_step`:
``argmin_W ℓ~(W) + (1/η) D(W, W_prev) + (1/α) G(W)`` with quadratic D and G, solved from stationarity.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import sympy as sp

from theory.recall._sym import frob2, gradient, inner, matrix, substitute, vector, zero_matrix

__all__ = [
    "Derivation",
    "derive_one_step",
    "derive_linear_attention",
    "derive_gated_linear_attention",
    "derive_gated_linear_attention_channel",
    "derive_deltanet",
    "derive_miras_gated_delta",
    "derive_gated_deltanet",
    "derive_gdn_miras_difference",
    "derive_longhorn",
    "derive_titans",
    "derive_moneta",
    "derive_moneta_mirror",
    "derive_yaad",
    "derive_memora",
    "derive_mesa",
    "moneta_stated_map",
    "moneta_mirror_map",
    "RULES",
    "certify",
    "certify_all",
]


class Derivation(NamedTuple):
    """One update rule worked symbolically (§2.3).

    rule: rule name; kind: what the residual certifies (see module docstring); objective: the scalar objective
    minimised (or, for ``recurrence``/``definition``, the loss whose gradient drives the update); W: the
    variable [d_v, d_k] (explicit symbols); update: the closed form the spec states [d_v, d_k]; parts: named
    certificates, each a matrix that simplifies to zero; residual: all parts stacked into one column;
    symbols: the named inputs (previous state, key, value, step sizes, gates) for numeric substitution.
    """

    rule: str
    kind: str
    objective: sp.Expr
    W: sp.Matrix
    update: sp.Matrix
    residual: sp.Matrix
    parts: dict
    symbols: dict


def _stack(parts: dict) -> sp.Matrix:
    return sp.Matrix.vstack(*[sp.Matrix(len(p), 1, list(p)) for p in parts.values()])


def _derivation(rule, kind, objective, W, update, parts, symbols) -> Derivation:
    return Derivation(rule, kind, objective, W, update, _stack(parts), parts, symbols)


def _dims(d_k, d_v):
    for name, d in (("d_k", d_k), ("d_v", d_v)):
        if isinstance(d, bool) or not isinstance(d, int) or not 1 <= d <= 3:
            raise ValueError(f"{name} must be an integer in [1, 3] (explicit symbolic matrices), got {d!r}")
    return d_k, d_v


def _setup(d_k, d_v):
    """Explicit symbols for the variable W [d_v, d_k], the previous state W_prev, the key k and the value v."""
    d_k, d_v = _dims(d_k, d_v)
    W = matrix("W", d_v, d_k, real=True)
    Wp = matrix("P", d_v, d_k, real=True)
    k = vector("k", d_k, real=True)
    v = vector("v", d_v, real=True)
    return W, Wp, k, v


def _l2(W, k, v):
    return frob2(W * k - v) / 2


def _dot(W, k, v):
    return -(v.T * W * k)[0, 0]


def derive_one_step(loss, W, W_prev, eta, alpha=None, *, linearise=True, local_weights=None, global_weights=None):
    """Solve ``argmin_W ℓ~(W) + (1/η) D(W, W_prev) + (1/α) G(W)`` from stationarity (§2.3).

    loss: scalar sympy expression in the entries of W [d_v, d_k]; ``ℓ~`` is its linearisation at W_prev
    (``ℓ(W_prev) + ⟨W − W_prev, ∇ℓ(W_prev)⟩``) when ``linearise`` else the loss itself.
    D = ½ Σ_c w_c ‖W[:, c] − W_prev[:, c]‖² (w_c = 1 unless ``local_weights`` [d_k] is given);
    G = ½ Σ_c ρ_c ‖W[:, c]‖² (ρ_c = 1 unless ``global_weights`` [d_k]); no G when ``alpha`` is None.
    Returns (objective, W_star) with W_star solved by ``sympy.linsolve``; the stationarity equations must be
    linear in W (quadratic or linearised bias), else ValueError.
    """
    d_v, d_k = W.shape
    w = [sp.Integer(1)] * d_k if local_weights is None else list(local_weights)
    rho = [sp.Integer(1)] * d_k if global_weights is None else list(global_weights)
    if linearise:
        g = substitute(gradient(loss, W), W, W_prev)
        bias = substitute(loss, W, W_prev) + inner(W - W_prev, g)
    else:
        bias = loss
    D = sum(w[c] * frob2(W[:, c] - W_prev[:, c]) for c in range(d_k)) / 2
    objective = bias + D / eta
    if alpha is not None:
        objective += sum(rho[c] * frob2(W[:, c]) for c in range(d_k)) / (2 * alpha)
    equations = list(gradient(objective, W))
    unknowns = list(W)
    for eq in equations:
        try:
            linear = sp.Poly(sp.expand(eq), *unknowns).total_degree() <= 1
        except sp.PolynomialError:
            linear = False
        if not linear:
            raise ValueError("loss: the stationarity equations must be linear in W (quadratic or linearised bias)")
    solutions = sp.linsolve(equations, unknowns)
    if len(solutions) != 1:
        raise ValueError("loss: the stationarity equations have no unique solution")
    (sol,) = solutions
    W_star = sp.Matrix(d_v, d_k, list(sol))
    if W_star.free_symbols & set(unknowns):
        raise ValueError("loss: the stationarity equations have no unique solution")
    return objective, W_star


def _argmin_parts(objective, W, update, solved) -> dict:
    return {
        "stationarity": substitute(gradient(objective, W), W, update),
        "solve": solved - update,
    }


def _retention_gates(eta, alpha):
    """λ = α/(α+η) (multiplicative forget gate) and η' = αη/(α+η) (write step), §2.3(b)."""
    return alpha / (alpha + eta), alpha * eta / (alpha + eta)


@cache
def derive_linear_attention(d_k: int = 2, d_v: int = 2) -> Derivation:
    """LA (§2.3(a), §3): dot-product bias ``−⟨Wk, v⟩``, D = ½‖W − W_prev‖², η = 1 ⇒ ``W = W_prev + v kᵀ``."""
    W, Wp, k, v = _setup(d_k, d_v)
    objective, solved = derive_one_step(_dot(W, k, v), W, Wp, sp.Integer(1), linearise=False)
    update = Wp + v * k.T
    return _derivation(
        "linear_attention", "argmin", objective, W, update, _argmin_parts(objective, W, update, solved),
        {"W_prev": Wp, "k": k, "v": v},
    )


@cache
def derive_gated_linear_attention(d_k: int = 2, d_v: int = 2) -> Derivation:
    """Gated LA, scalar gate (§2.3(b)): adding G = ½‖W‖² gives ``W = λ W_prev + η' v kᵀ``.

    λ = α/(α+η), η' = αη/(α+η): a multiplicative forget gate is exactly ℓ2 global retention. Part ``retnet``:
    η = 1/γ, α = 1/(1−γ) give λ = γ, η' = 1 (RetNet ``W = γ W_prev + v kᵀ``).
    """
    W, Wp, k, v = _setup(d_k, d_v)
    eta, alpha, gamma = sp.symbols("eta alpha gamma", positive=True)
    objective, solved = derive_one_step(_dot(W, k, v), W, Wp, eta, alpha, linearise=False)
    lam, eta_w = _retention_gates(eta, alpha)
    update = lam * Wp + eta_w * v * k.T
    parts = _argmin_parts(objective, W, update, solved)
    parts["retnet"] = update.subs({eta: 1 / gamma, alpha: 1 / (1 - gamma)}) - (gamma * Wp + v * k.T)
    return _derivation(
        "gated_linear_attention", "argmin", objective, W, update, parts,
        {"W_prev": Wp, "k": k, "v": v, "eta": eta, "alpha": alpha, "gamma": gamma},
    )


@cache
def derive_gated_linear_attention_channel(d_k: int = 2, d_v: int = 2) -> Derivation:
    """GLA, per-channel decay (§2.3(b)): ``W = W_prev Diag(a) + v kᵀ``, a ∈ (0, 1)^{d_k}.

    Column-weighted D and G with weights w_c = η a_c (local) and ρ_c = α(1 − a_c) (global); the write scale
    stays 1 for every η, α.
    """
    W, Wp, k, v = _setup(d_k, d_v)
    eta, alpha = sp.symbols("eta alpha", positive=True)
    a = [sp.Symbol(f"a_{c}", positive=True) for c in range(d_k)]
    objective, solved = derive_one_step(
        _dot(W, k, v), W, Wp, eta, alpha, linearise=False,
        local_weights=[eta * ac for ac in a], global_weights=[alpha * (1 - ac) for ac in a],
    )
    update = Wp * sp.diag(*a) + v * k.T
    return _derivation(
        "gated_linear_attention_channel", "argmin", objective, W, update,
        _argmin_parts(objective, W, update, solved),
        {"W_prev": Wp, "k": k, "v": v, "eta": eta, "alpha": alpha, "a": sp.Matrix(a)},
    )


@cache
def derive_deltanet(d_k: int = 2, d_v: int = 2) -> Derivation:
    """DeltaNet (§2.3(a), §3): linearised ℓ2 bias, η = β ⇒ ``W = W_prev − β e kᵀ``.

    Linearisation: this is one SGD step on ½‖Wk − v‖² with learning rate β (part ``sgd_step``, claim 1), not
    the exact minimiser of the ℓ2 proximal problem (that is Longhorn). Part ``product_form``:
    ``W_prev(I − β k kᵀ) + β v kᵀ``.
    """
    W, Wp, k, v = _setup(d_k, d_v)
    beta = sp.Symbol("beta", positive=True)
    loss = _l2(W, k, v)
    objective, solved = derive_one_step(loss, W, Wp, beta)
    e = Wp * k - v
    update = Wp - beta * e * k.T
    parts = _argmin_parts(objective, W, update, solved)
    parts["sgd_step"] = update - (Wp - beta * substitute(gradient(loss, W), W, Wp))
    parts["product_form"] = update - (Wp * (sp.eye(d_k) - beta * k * k.T) + beta * v * k.T)
    return _derivation(
        "deltanet", "linearised argmin", objective, W, update, parts,
        {"W_prev": Wp, "k": k, "v": v, "beta": beta},
    )


@cache
def derive_miras_gated_delta(d_k: int = 2, d_v: int = 2) -> Derivation:
    """Miras-gated delta (§2.3(b), claim 5): linearised ℓ2, ℓ2 local + global retention.

    ``W = λ W_prev − η' e kᵀ`` with λ = α/(α+η), η' = αη/(α+η); the error e is taken on the undecayed state.
    Part ``gradient_step``: the update is a decayed gradient step ``λ W_prev − η' ∇ℓ2(W_prev)``.
    """
    W, Wp, k, v = _setup(d_k, d_v)
    eta, alpha = sp.symbols("eta alpha", positive=True)
    loss = _l2(W, k, v)
    objective, solved = derive_one_step(loss, W, Wp, eta, alpha)
    lam, eta_w = _retention_gates(eta, alpha)
    update = lam * Wp - eta_w * (Wp * k - v) * k.T
    parts = _argmin_parts(objective, W, update, solved)
    parts["gradient_step"] = update - (lam * Wp - eta_w * substitute(gradient(loss, W), W, Wp))
    return _derivation(
        "miras_gated_delta", "linearised argmin", objective, W, update, parts,
        {"W_prev": Wp, "k": k, "v": v, "eta": eta, "alpha": alpha},
    )


@cache
def derive_gated_deltanet(d_k: int = 2, d_v: int = 2) -> Derivation:
    """Gated DeltaNet (§3, fla order): decay first, then a delta step on the decayed state.

    ``W = a W_prev (I − β k kᵀ) + β v kᵀ`` = argmin of the ℓ2 bias linearised at ``a W_prev`` plus
    ``(1/β)·½‖W − a W_prev‖²``; part ``sgd_step``: one SGD step (lr β) from the decayed state.
    """
    W, Wp, k, v = _setup(d_k, d_v)
    a, beta = sp.symbols("a beta", positive=True)
    loss = _l2(W, k, v)
    decayed = a * Wp
    objective, solved = derive_one_step(loss, W, decayed, beta)
    update = a * Wp * (sp.eye(d_k) - beta * k * k.T) + beta * v * k.T
    parts = _argmin_parts(objective, W, update, solved)
    parts["sgd_step"] = update - (decayed - beta * substitute(gradient(loss, W), W, decayed))
    return _derivation(
        "gated_deltanet", "linearised argmin", objective, W, update, parts,
        {"W_prev": Wp, "k": k, "v": v, "a": a, "beta": beta},
    )


@cache
def derive_gdn_miras_difference(d_k: int = 2, d_v: int = 2) -> Derivation:
    """``GDN − MirasGated = β(1 − a) W_prev k kᵀ`` exactly, with λ = a, η' = β (§2.3, claim 3).

    The Miras objective with η = β/a, α = β/(1 − a) has λ = a, η' = β (part ``gates``); ``update`` is the
    difference of the two closed forms and part ``difference`` certifies it equals β(1 − a) W_prev k kᵀ.
    """
    W, Wp, k, v = _setup(d_k, d_v)
    gdn = derive_gated_deltanet(d_k, d_v)
    miras = derive_miras_gated_delta(d_k, d_v)
    a, beta = gdn.symbols["a"], gdn.symbols["beta"]
    eta, alpha = miras.symbols["eta"], miras.symbols["alpha"]
    gate_values = {eta: beta / a, alpha: beta / (1 - a)}
    lam, eta_w = _retention_gates(eta, alpha)
    miras_update = miras.update.subs(gate_values)
    difference = gdn.update - miras_update
    parts = {
        "gates": sp.Matrix([lam.subs(gate_values) - a, eta_w.subs(gate_values) - beta]),
        "difference": difference - beta * (1 - a) * Wp * k * k.T,
    }
    return _derivation(
        "gdn_miras_difference", "identity", miras.objective.subs(gate_values), W, difference, parts,
        {"W_prev": Wp, "k": k, "v": v, "a": a, "beta": beta},
    )


@cache
def derive_longhorn(d_k: int = 2, d_v: int = 2) -> Derivation:
    """Longhorn (§2.3(c), §3.1, claim 4): implicit (proximal) step on the exact ℓ2 bias.

    ``argmin ½‖W − W_prev‖² + (β/2)‖Wk − v‖²`` = ``W_prev − ε e kᵀ``, ε = β/(1 + β‖k‖²). Part ``error``:
    the new error is ``e/(1 + β‖k‖²)``.
    """
    W, Wp, k, v = _setup(d_k, d_v)
    beta = sp.Symbol("beta", positive=True)
    objective, solved = derive_one_step(_l2(W, k, v), W, Wp, beta, linearise=False)
    e = Wp * k - v
    eps = beta / (1 + beta * frob2(k))
    update = Wp - eps * e * k.T
    parts = _argmin_parts(objective, W, update, solved)
    parts["error"] = (update * k - v) - e / (1 + beta * frob2(k))
    return _derivation(
        "longhorn", "argmin", objective, W, update, parts, {"W_prev": Wp, "k": k, "v": v, "beta": beta},
    )


@cache
def derive_titans(d_k: int = 2, d_v: int = 2, T: int = 3) -> Derivation:
    """Titans, linear memory (§2.3(h), §3, claim 11): momentum GD with weight decay, not an argmin.

    ``S_t = η_t S_{t−1} − θ_t ∇ℓ_t(M_{t−1})``, ``M_t = (1 − α_t) M_{t−1} + S_t``, S_0 = 0, with
    ``ℓ = ‖Mk − v‖²`` (no ½: part ``gradient`` certifies ∇ℓ = 2 e kᵀ). ``update`` is the unrolled form
    ``M_T = (1−α_T) M_{T−1} − Σ_{i≤T} (Π_{j=i+1..T} η_j) θ_i ∇ℓ_i``; parts ``unrolled_t`` certify it against
    the two-state recurrence for t = 1..T with abstract gradient matrices.
    """
    W, Wp, k, v = _setup(d_k, d_v)
    if isinstance(T, bool) or not isinstance(T, int) or not 1 <= T <= 5:
        raise ValueError(f"T must be an integer in [1, 5], got {T!r}")
    loss = frob2(W * k - v)
    eta = sp.symbols(f"eta_1:{T + 1}", positive=True)
    theta = sp.symbols(f"theta_1:{T + 1}", positive=True)
    alpha = sp.symbols(f"alpha_1:{T + 1}", positive=True)
    grads = [matrix(f"g{t + 1}", d_v, d_k, real=True) for t in range(T)]
    parts = {"gradient": gradient(loss, W) - 2 * (W * k - v) * k.T}
    S = sp.zeros(d_v, d_k)
    M_prev = Wp
    unrolled = None
    for t in range(T):
        S = eta[t] * S - theta[t] * grads[t]
        M_new = (1 - alpha[t]) * M_prev + S
        momentum = sp.zeros(d_v, d_k)
        for i in range(t + 1):
            momentum += sp.Mul(*eta[i + 1 : t + 1]) * theta[i] * grads[i]
        unrolled = (1 - alpha[t]) * M_prev - momentum
        parts[f"unrolled_{t + 1}"] = unrolled - M_new
        M_prev = M_new
    return _derivation(
        "titans", "recurrence", loss, W, unrolled, parts,
        {"W_prev": Wp, "k": k, "v": v, "eta": eta, "theta": theta, "alpha": alpha, "grads": grads},
    )


def moneta_stated_map(A: sp.Matrix, q) -> sp.Matrix:
    """Moneta's stated retention map ``W = A / ‖A‖_q^{q−2}`` (entry-wise q-norm over the whole matrix, §3.2)."""
    norm = sum(sp.Abs(x) ** q for x in A) ** (sp.Integer(1) / q)
    return A / norm ** (q - 2)


def moneta_mirror_map(A: sp.Matrix, q) -> sp.Matrix:
    """Exact inverse mirror map of ψ(W) = ½‖W‖_q²: ``W = sign(A)|A|^{q*−1} / ‖A‖_{q*}^{q*−2}``, q* = q/(q−1)."""
    qs = q / (q - 1)
    norm = sum(sp.Abs(x) ** qs for x in A) ** (1 / qs)
    return A.applyfunc(lambda x: sp.sign(x) * sp.Abs(x) ** (qs - 1)) / norm ** (qs - 2)


@cache
def derive_moneta(d_k: int = 2, d_v: int = 2, p: int = 3, q: int = 4) -> Derivation:
    """Moneta, linear memory, stated form (§2.3(f), §3.2, claims 8–9); a definition, not an argmin.

    ``A_t = α A_{t−1} − η ∇ℓ_p(W_{t−1})``, ``W_t = A_t / ‖A_t‖_q^{q−2}``, ``ℓ_p = ‖Wk − v‖_p^p``.
    Parts: ``gradient`` (∇ℓ_p = p (sign(e) ⊙ |e|^{p−1}) kᵀ); ``p_q_2`` (p = q = 2 and A_{t−1} = W_{t−1}:
    decayed ℓ2 GD with learning rate 2η, W_t = α W_{t−1} − 2η e kᵀ); ``homogeneity`` (the stated map is
    homogeneous of degree 3 − q in A: W(cA) = c^{3−q} W(A), c > 0, on the positive orthant).
    """
    W, Wp, k, v = _setup(d_k, d_v)
    for name, x in (("p", p), ("q", q)):
        if isinstance(x, bool) or not isinstance(x, int) or x < 2:
            raise ValueError(f"{name} must be an integer >= 2, got {x!r}")
    A_prev = matrix("A", d_v, d_k, real=True)
    alpha, eta = sp.symbols("alpha eta", positive=True)
    loss = sum(sp.Abs(x) ** p for x in (W * k - v))
    e = Wp * k - v
    grad_lp = substitute(gradient(loss, W), W, Wp)
    stated_grad = p * e.applyfunc(lambda x: sp.sign(x) * sp.Abs(x) ** (p - 1)) * k.T
    A_new = alpha * A_prev - eta * stated_grad
    update = moneta_stated_map(A_new, q)

    loss2 = frob2(W * k - v)
    A2 = alpha * Wp - eta * substitute(gradient(loss2, W), W, Wp)
    p_q_2 = moneta_stated_map(A2, 2) - (alpha * Wp - 2 * eta * e * k.T)

    Apos = matrix("B", d_v, d_k, positive=True)
    c = sp.Symbol("c", positive=True)
    homogeneity = moneta_stated_map(c * Apos, q) - c ** (3 - q) * moneta_stated_map(Apos, q)
    parts = {"gradient": grad_lp - stated_grad, "p_q_2": p_q_2, "homogeneity": homogeneity}
    return _derivation(
        "moneta", "definition", loss, W, update, parts,
        {"W_prev": Wp, "A_prev": A_prev, "k": k, "v": v, "alpha": alpha, "eta": eta},
    )


@cache
def derive_moneta_mirror(d_k: int = 2, d_v: int = 2, q: int = 4) -> Derivation:
    """Moneta with the exact mirror map of ψ = ½‖W‖_q² (§3.2): ``W = argmin −⟨W, A⟩ + ½‖W‖_q²``.

    q must be even here so that ‖W‖_q^q = Σ W^q is smooth; stationarity is certified on the positive orthant
    of A (both maps act on signs coordinate-wise, so other orthants follow by reflection). Parts:
    ``stationarity``; ``q_2`` (both maps are the identity at q = 2, any signs); ``degree_one`` (the exact map is
    homogeneous of degree 1).
    """
    d_k, d_v = _dims(d_k, d_v)
    if isinstance(q, bool) or not isinstance(q, int) or q < 2 or q % 2:
        raise ValueError(f"q must be an even integer >= 2, got {q!r}")
    W = matrix("W", d_v, d_k, real=True)
    A = matrix("B", d_v, d_k, positive=True)
    c = sp.Symbol("c", positive=True)
    objective = -inner(W, A) + sp.sqrt(sum(x**q for x in W) ** (sp.Integer(2) / q)) ** 2 / 2
    update = moneta_mirror_map(A, sp.Integer(q))
    Areal = matrix("A", d_v, d_k, real=True)
    parts = {
        "stationarity": substitute(gradient(objective, W), W, update),
        "q_2": sp.Matrix.vstack(
            moneta_mirror_map(Areal, sp.Integer(2)) - Areal, moneta_stated_map(Areal, sp.Integer(2)) - Areal
        ),
        "degree_one": moneta_mirror_map(c * A, sp.Integer(q)) - c * update,
    }
    return _derivation("moneta_mirror", "argmin", objective, W, update, parts, {"A": A})


@cache
def derive_yaad(d_k: int = 2, d_v: int = 2) -> Derivation:
    """Yaad (§2.3(g), §3.2, claim 10): Huber bias, linearised, with ℓ2 local + global retention.

    Each branch is the argmin of its linearised bias + (1/η)·½‖W − W_prev‖² + (1/α)·½‖W‖², with
    λ = α/(α+η), η' = αη/(α+η) (the table's α_t, η_t):
    ``‖e‖ ≤ δ``: ``λ W_prev − η' e kᵀ`` (ℓ2; also the δ → ∞ rule);
    ``‖e‖ > δ`` stated (coordinate-wise ℓ1): ``λ W_prev − η' δ sign(e) kᵀ``;
    ``‖e‖ > δ`` norm-wise Huber: ``λ W_prev − η' δ e kᵀ/‖e‖``.
    ``update`` is the stated rule as a Piecewise; parts certify stationarity of each branch and the
    gradients of δ‖Wk − v‖₁ and of the norm-wise Huber outer branch δ(‖Wk − v‖ − δ/2).
    """
    W, Wp, k, v = _setup(d_k, d_v)
    eta, alpha, delta = sp.symbols("eta alpha delta", positive=True)
    lam, eta_w = _retention_gates(eta, alpha)
    e = Wp * k - v
    norm_e = sp.sqrt(frob2(e))
    r = W * k - v
    l1 = delta * sum(sp.Abs(x) for x in r)
    huber_outer = delta * (sp.sqrt(frob2(r)) - delta / 2)
    branches = {
        "inner": (_l2(W, k, v), lam * Wp - eta_w * e * k.T),
        "outer_coordinatewise": (l1, lam * Wp - eta_w * delta * e.applyfunc(sp.sign) * k.T),
        "outer_normwise": (huber_outer, lam * Wp - eta_w * delta * e * k.T / norm_e),
    }
    parts = {}
    objectives = {}
    for name, (loss, closed) in branches.items():
        objective, solved = derive_one_step(loss, W, Wp, eta, alpha)
        objectives[name] = objective
        parts[f"{name}_stationarity"] = substitute(gradient(objective, W), W, closed)
        parts[f"{name}_solve"] = solved - closed
    parts["grad_l1"] = substitute(gradient(l1, W), W, Wp) - delta * e.applyfunc(sp.sign) * k.T
    parts["grad_huber"] = substitute(gradient(huber_outer, W), W, Wp) - delta * e * k.T / norm_e
    inner_upd, outer_upd = branches["inner"][1], branches["outer_coordinatewise"][1]
    update = sp.Matrix(
        d_v, d_k, [sp.Piecewise((x, norm_e <= delta), (y, True)) for x, y in zip(inner_upd, outer_upd)]
    )
    return _derivation(
        "yaad", "linearised argmin", objectives["outer_coordinatewise"], W, update, parts,
        {"W_prev": Wp, "k": k, "v": v, "eta": eta, "alpha": alpha, "delta": delta},
    )


@cache
def derive_memora(d_k: int = 2, d_v: int = 2) -> Derivation:
    """Memora (§2.3(e), §3.2, claim 7): KKT on the scaled simplex {W > 0, ΣW = c} (one slice = whole W here).

    ``argmin ⟨W, g⟩ + (1/η) KL(W‖W_prev) + (1/α) Σ W log W`` with g = ∇ℓ2(W_prev) gives
    ``W = c · Softmax((1 − λ) log W_prev − η' g)``, λ = (1/α)/(1/α + 1/η), η' = 1/(1/α + 1/η).
    Parts: ``kkt`` (∂objective/∂W_ij − ∂objective/∂W_00 = 0: the gradient is a constant, the multiplier of
    ΣW = c) and ``mass`` (ΣW − c). Positivity holds by construction (exp > 0).
    """
    d_k, d_v = _dims(d_k, d_v)
    W = matrix("W", d_v, d_k, positive=True)
    Wp = matrix("P", d_v, d_k, positive=True)
    k = vector("k", d_k, real=True)
    v = vector("v", d_v, real=True)
    eta, alpha, c = sp.symbols("eta alpha c", positive=True)
    g = (Wp * k - v) * k.T
    kl = sum(w * sp.log(w / wp) - w + wp for w, wp in zip(W, Wp))
    entropy = sum(w * sp.log(w) for w in W)
    objective = inner(W, g) + kl / eta + entropy / alpha
    lam = (1 / alpha) / (1 / alpha + 1 / eta)
    eta_w = 1 / (1 / alpha + 1 / eta)
    logits = sp.Matrix(d_v, d_k, [(1 - lam) * sp.log(wp) - eta_w * gi for wp, gi in zip(Wp, g)])
    Z = sum(sp.exp(x) for x in logits)
    update = logits.applyfunc(lambda x: c * sp.exp(x) / Z)
    grad = substitute(gradient(objective, W), W, update)
    parts = {"kkt": grad.applyfunc(lambda x: x - grad[0]), "mass": sp.Matrix([sum(update) - c])}
    return _derivation(
        "memora", "KKT", objective, W, update, parts,
        {"W_prev": Wp, "k": k, "v": v, "eta": eta, "alpha": alpha, "c": c},
    )


@cache
def derive_mesa(d_k: int = 2, d_v: int = 2, T: int = 2) -> Derivation:
    """Mesa (§2.3(d), §4.1, claim 12): exact weighted ridge over all past tokens.

    ``Φ_T = argmin ½ Σ_{i≤T} ζ_{T,i} β_i ‖v_i − Φ k_i‖² + ½ tr(Φ Λ Φᵀ)``, ζ_{T,i} = Π_{j=i+1..T} γ_j,
    Λ = diag(λ_1..λ_{d_k}) > 0 (not decayed). Closed form ``Φ_T = G_T (H_T + Λ)^{-1}`` with the recurrences
    ``H_t = γ_t H_{t−1} + β_t k_t k_tᵀ``, ``G_t = γ_t G_{t−1} + β_t v_t k_tᵀ`` (H_0 = G_0 = 0).
    """
    d_k, d_v = _dims(d_k, d_v)
    if isinstance(T, bool) or not isinstance(T, int) or not 1 <= T <= 3:
        raise ValueError(f"T must be an integer in [1, 3], got {T!r}")
    W = matrix("W", d_v, d_k, real=True)
    keys = [vector(f"k{t + 1}", d_k, real=True) for t in range(T)]
    values = [vector(f"v{t + 1}", d_v, real=True) for t in range(T)]
    beta = sp.symbols(f"beta_1:{T + 1}", positive=True)
    gamma = sp.symbols(f"gamma_1:{T + 1}", positive=True)
    lam = sp.symbols(f"lambda_1:{d_k + 1}", positive=True)
    Lam = sp.diag(*lam)
    H = sp.zeros(d_k, d_k)
    G = sp.zeros(d_v, d_k)
    for t in range(T):
        H = gamma[t] * H + beta[t] * keys[t] * keys[t].T
        G = gamma[t] * G + beta[t] * values[t] * keys[t].T
    zeta = [sp.Mul(*gamma[i + 1 :]) for i in range(T)]
    objective = sum(zeta[i] * beta[i] * frob2(values[i] - W * keys[i]) for i in range(T)) / 2
    objective += (W * Lam * W.T).trace() / 2
    update = G * (H + Lam).inv()
    equations = list(gradient(objective, W))
    (sol,) = sp.linsolve(equations, list(W))
    solved = sp.Matrix(d_v, d_k, list(sol))
    parts = _argmin_parts(objective, W, update, solved)
    parts["normal_equations"] = update * (H + Lam) - G
    H_sum = sum((zeta[i] * beta[i] * keys[i] * keys[i].T for i in range(T)), sp.zeros(d_k, d_k))
    parts["unrolled_H"] = H - H_sum
    return _derivation(
        "mesa", "argmin", objective, W, update, parts,
        {"keys": keys, "values": values, "beta": beta, "gamma": gamma, "Lam": Lam, "H": H, "G": G},
    )


RULES = {
    "linear_attention": derive_linear_attention,
    "gated_linear_attention": derive_gated_linear_attention,
    "gated_linear_attention_channel": derive_gated_linear_attention_channel,
    "deltanet": derive_deltanet,
    "miras_gated_delta": derive_miras_gated_delta,
    "gated_deltanet": derive_gated_deltanet,
    "gdn_miras_difference": derive_gdn_miras_difference,
    "longhorn": derive_longhorn,
    "titans": derive_titans,
    "moneta": derive_moneta,
    "moneta_mirror": derive_moneta_mirror,
    "yaad": derive_yaad,
    "memora": derive_memora,
    "mesa": derive_mesa,
}


@cache
def certify(rule: str) -> sp.Matrix:
    """The residual of ``RULES[rule]()`` simplified entry by entry; the zero column iff certified (claim 6)."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {sorted(RULES)}, got {rule!r}")
    return zero_matrix(RULES[rule]().residual)


def certify_all() -> dict:
    """{rule: simplified residual} for every rule of :data:`RULES` (each the zero column when certified)."""
    return {rule: certify(rule) for rule in RULES}
