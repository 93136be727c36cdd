"""Sequential learning in the one-hot linear-attention model: per-token gradients at uniform prediction,
escape times, the hallucination stage and its reversal (associative_memory.md §8.4).

Model (§8.2): logits = Σ_t a_{z_t}·V[z_t, :] over the RD answers, a_τ = A[EOS, τ]; per token τ the pair
(a_τ, v_τ) follows ȧ_τ = v_τ·g_τ, v̇_τ = a_τ g_τ with g_τ = E[count_τ(z)(e_y − p(z))]. Time is in SGD steps
of size η, so a component leaves a0 after (ln(1/a0) + c)/(η‖g‖) steps (c ≈ 1.7–2.0 for "component
loss < 0.5"). Subjects and relations are uniform; the norms below assume the structured table of §5 with
D | S, whose answer marginal is uniform.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from theory._validate import at_least, finite, integers, open_interval, out
from theory.memory.derivations import lambdified


def relation_gradient_norm(R, D):
    """‖g_r‖ = √(1/D − 1/(RD))/R at uniform prediction (§8.4) [broadcast]. R, D: integers >= 2."""
    R = integers("R", R, 2)
    D = integers("D", D, 2)
    return out(lambdified("rel_norm")(np.ones_like(R), R, D))


def subject_gradient_norm(S, R, D):
    """‖g_s‖ = √(1/R − 1/(RD))/S at uniform prediction, unchanged once the relation is learned (§8.4).

    S: integer >= 1; R: integer >= 1; D: integer >= 2 [broadcast].
    """
    S = integers("S", S, 1)
    R = integers("R", R, 1)
    D = integers("D", D, 2)
    return out(lambdified("subj_norm")(S, R, D))


def escape_steps(g_norm, eta, a0, c=0.0):
    """(ln(1/a0) + c)/(η‖g‖): SGD steps for a component to grow from a0 to O(1) (§8.4, S3) [broadcast].

    g_norm, eta > 0; a0 ∈ (0, 1); c finite with ln(1/a0) + c > 0 (c = 0 is the spec table's "pred" column).
    """
    g_norm = at_least("g_norm", g_norm, 0.0, strict=True)
    eta = at_least("eta", eta, 0.0, strict=True)
    a0 = open_interval("a0", a0, 0.0, 1.0)
    c = finite("c", c)
    if np.any(np.log(1.0 / a0) + c <= 0):
        raise ValueError(f"c must be > ln(a0) so that ln(1/a0) + c > 0, got c={c!r}, a0={a0!r}")
    return out((np.log(1.0 / a0) + c) / (eta * g_norm))


class StageTimes(NamedTuple):
    """Escape times in SGD steps of the relation and of the subject component (§8.4)."""

    relation: float | np.ndarray
    subject: float | np.ndarray


def stage_times(S, R, D, eta, a0, c=0.0) -> StageTimes:
    """(t_rel, t_subj) = (ln(1/a0) + c)/(η‖g‖) for g_r and g_s (§8.4) [broadcast].

    S: integer >= 1; R, D: integers >= 2; eta > 0; a0 ∈ (0, 1); c as in :func:`escape_steps`.
    """
    g_r = relation_gradient_norm(R, D)
    g_s = subject_gradient_norm(S, R, D)
    return StageTimes(escape_steps(g_r, eta, a0, c), escape_steps(g_s, eta, a0, c))


def stage_time_ratio(S, R, D):
    """t_subj/t_rel = ‖g_r‖/‖g_s‖ = (S/R)·√((R − 1)/(D − 1)) (§8.4, S3) [broadcast].

    S: integer >= 1; R, D: integers >= 2 (R = 1 has no relation signal, D = 1 no subject signal).
    """
    S = integers("S", S, 1)
    R = integers("R", R, 2)
    D = integers("D", D, 2)
    return out(lambdified("rel_norm")(np.ones_like(S), R, D) / lambdified("subj_norm")(S, R, D))


def hallucination_length(S, R, D, eta, a0, c=0.0):
    """t_subj − t_rel = (ln(1/a0) + c)(1/‖g_s‖ − 1/‖g_r‖)/η steps (§8.4) [broadcast].

    Positive: the relation is learned first and the model outputs a type-correct answer without subject
    information for this many steps; negative: order reversed (subject first).
    """
    t = stage_times(S, R, D, eta, a0, c)
    return out(np.asarray(t.subject) - np.asarray(t.relation))


def relation_first(S, R, D):
    """True iff the relation is learned before the subject, i.e. (S/R)√((R − 1)/(D − 1)) > 1 (§8.4) [broadcast]."""
    r = np.asarray(stage_time_ratio(S, R, D)) > 1.0
    return bool(r) if r.ndim == 0 else r


class StagePlateaus(NamedTuple):
    """Cross-entropy and accuracy on the plateaus of the §8 dynamics (structured or random disjoint table)."""

    initial: float | np.ndarray  # ln(RD): uniform over all answers
    relation_learned: float | np.ndarray  # ln D: uniform over 𝒜_r (hallucination)
    relation_accuracy: float | np.ndarray  # 1/D
    subject_learned: float | np.ndarray  # ln R: uniform over the R answers of s (order reversed)
    subject_accuracy: float | np.ndarray  # 1/R


def stage_plateaus(R, D) -> StagePlateaus:
    """Plateau losses ln(RD), ln D, ln R and accuracies 1/D, 1/R (§8.2–§8.4, S1, S4) [broadcast].

    R4 D8: 3.466 → 2.079 with accuracy 0.125; R32 D8 subject first: ln R = 3.466. R, D: integers >= 1.
    """
    R = integers("R", R, 1)
    D = integers("D", D, 1)
    return StagePlateaus(
        out(np.log(R * D)), out(np.log(D)), out(1.0 / D), out(np.log(R)), out(1.0 / R)
    )


def structured_answer_table(S, R, D) -> np.ndarray:
    """a*(s, r) = ⌊sD/S⌋ + rD [S, R] (§5 structured table; uniform answer marginal when D | S)."""
    S = int(integers("S", S, 1))
    R = int(integers("R", R, 1))
    D = int(integers("D", D, 1))
    s = np.arange(S)[:, None]
    r = np.arange(R)[None, :]
    return (s * D) // S + r * D


class TokenGradients(NamedTuple):
    """Exact mean gradients g_τ over the RD answers for uniform subjects and relations (§8.4)."""

    subject: np.ndarray  # [S, RD]
    relation: np.ndarray  # [R, RD]
    per_count: np.ndarray  # [RD] g of a token present once in every sequence (EOS); noise: E[count]·this


def token_gradients(table, D, stage: str = "uniform") -> TokenGradients:
    """g_τ = E[count_τ(z)(e_y − p(z))] for a fact table ``table`` [S, R] with a*(s, r) ∈ [rD, (r + 1)D) (§8.4).

    ``stage="uniform"``: p = Unif(𝒜) (initialisation). ``stage="relation"``: p(·|r) = Unif(𝒜_r), the
    hallucination plateau. Noise and EOS tokens have zero gradient iff the answer marginal is uniform.
    """
    D = int(integers("D", D, 1))
    tab = np.asarray(table)
    if tab.ndim != 2 or tab.size == 0 or not np.issubdtype(tab.dtype, np.integer):
        raise ValueError(f"table must be a non-empty integer array [S, R], got {tab.dtype} {tab.shape}")
    S, R = tab.shape
    lo = np.arange(R)[None, :] * D
    if np.any((tab < lo) | (tab >= lo + D)):
        raise ValueError("table must satisfy a*(s, r) ∈ [rD, (r+1)D) for every (s, r)")
    if stage not in ("uniform", "relation"):
        raise ValueError(f"stage must be 'uniform' or 'relation', got {stage!r}")
    A = R * D
    onehot = np.zeros((S, R, A))
    np.put_along_axis(onehot, tab[:, :, None], 1.0, axis=2)
    if stage == "uniform":
        pred = np.full((S, R, A), 1.0 / A)
    else:
        pred = np.zeros((S, R, A))
        for r in range(R):
            pred[:, r, r * D : (r + 1) * D] = 1.0 / D
    err = onehot - pred  # e_y − p(z) for the sequence with (s, r)
    # P(s present) = 1/S and, given s, r is uniform; likewise for r
    g_s = err.mean(axis=1) / S
    g_r = err.mean(axis=0) / R
    return TokenGradients(subject=g_s, relation=g_r, per_count=err.mean(axis=(0, 1)))
