"""Capacity laws, readout bottlenecks, information-theoretic lower bounds and bits per parameter
(associative_memory.md §2.1, §2.3, §3, §4, §7).

Logs: ``ln`` is natural (capacity constants κ), bits are log2. The ``GUIDE_*`` constants are the official
code's hand-placed guide lines (§10: never a fitted law); pass a fitted constant where one is available.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln, lambertw
from scipy.stats import binom

from theory._validate import at_least, integers, out
from theory.memory._checks import out_int
from theory.memory.derivations import lambdified

GUIDE_KAPPA_LINEAR = 0.77  # §2.3: d² = 1.3·N ln N
GUIDE_KAPPA_MLP = 2.86  # §3.2, M = N: md = 0.35·N ln N
GUIDE_C_MLP_FIXED = 0.83  # §3.2, M = 32: md = 1.2·N
GUIDE_C_P = 0.15  # §7: facts = 0.15·P_paper

_LN2 = np.log(2.0)


# ---------------------------------------------------------------------------------------------------------
# capacity laws (§2.3, §3.2, §7)
# ---------------------------------------------------------------------------------------------------------


def capacity_from_law(area, kappa):
    """N solving N ln N = κ·area, i.e. κ·area / W(κ·area) with W the Lambert function [broadcast].

    area: d² (linear) or md (MLP), > 0; kappa > 0.
    """
    area = at_least("area", area, 0.0, strict=True)
    kappa = at_least("kappa", kappa, 0.0, strict=True)
    # derive_capacity_law: N = exp(W(κ·area)); W is real and increasing for κ·area > 0
    return out(np.exp(lambertw(kappa * area).real))


def linear_capacity(d, kappa=GUIDE_KAPPA_LINEAR):
    """Trained linear memory, M = N: N with N ln N = κ·d² (§2.3; guide κ = 0.77) [broadcast]. d: integer >= 1."""
    d = integers("d", d, 1)
    return capacity_from_law(d**2, kappa)


def mlp_capacity(m, d, kappa=GUIDE_KAPPA_MLP):
    """MLP memory, M = N: N with N ln N = κ_MLP·md (§3.2; guide κ_MLP = 2.86) [broadcast]."""
    m = integers("m", m, 1)
    d = integers("d", d, 1)
    return capacity_from_law(m * d, kappa)


def mlp_capacity_fixed_outputs(m, d, c=GUIDE_C_MLP_FIXED):
    """MLP memory, M = 32: N = c·md (§3.2; guide c = 0.83) [broadcast]."""
    m = integers("m", m, 1)
    d = integers("d", d, 1)
    c = at_least("c", c, 0.0, strict=True)
    return out(c * m * d)


def transformer_capacity(P, c_P=GUIDE_C_P):
    """Facts stored by a one-layer transformer: c_P·P_paper (§7; guide c_P = 0.15) [broadcast]. P > 0."""
    P = at_least("P", P, 0.0, strict=True)
    c_P = at_least("c_P", c_P, 0.0, strict=True)
    return out(c_P * P)


def capacity_constant(N, area):
    """κ = N ln N / area, the constant of a measured capacity (§2.3 table, A1, A4) [broadcast]."""
    N = at_least("N", N, 1.0)
    area = at_least("area", area, 0.0, strict=True)
    return out(N * np.log(N) / area)


def capacity_loglog_slope(N):
    """d ln N / d ln(area) = 1/(1 + 1/ln N) along N ln N = κ·area (§2.3, A2) [broadcast]. N > 1."""
    N = at_least("N", N, 1.0, strict=True)
    return out(lambdified("capacity_slope")(N))


# ---------------------------------------------------------------------------------------------------------
# readout bottleneck (§2.1, §3.1)
# ---------------------------------------------------------------------------------------------------------


def linear_readout_dof(M, d):
    """(M − 1)·d: degrees of freedom of the scores of a linear memory, which see W only through WᵀUᵀ (§2.1).

    Capacity ≲ (M − 1)d, so N ≈ d² needs M ≳ d. M: integer >= 2; d: integer >= 1 [broadcast].
    """
    M = integers("M", M, 2)
    d = integers("d", d, 1)
    return out_int((M - 1) * d)


def mlp_readout_bound(m, d, M):
    """m·(d + M): parameters the MLP memory's logits depend on, through W and VUᵀ (§3.1) [broadcast]."""
    m = integers("m", m, 1)
    d = integers("d", d, 1)
    M = integers("M", M, 2)
    return out_int(m * (d + M))


def cover_separable_probability(N, d):
    """P(N random ±1 labels of N points in general position in R^d are linearly separable) (Cover 1965).

    C(N, d)/2^N = 2^{1−N} Σ_{k<d} binom(N − 1, k), homogeneous separators; exactly 1/2 at N = 2d, hence the
    M = 2 capacity ≈ 2d of §2.1 (A7). N, d: integers >= 1 [broadcast].
    """
    N = integers("N", N, 1)
    d = integers("d", d, 1)
    return out(binom.cdf(d - 1, N - 1, 0.5))


def cover_capacity(d):
    """2d: the M = 2 capacity of a linear readout in R^d (§2.1) [broadcast]. d: integer >= 1."""
    d = integers("d", d, 1)
    return out_int(2 * d)


# ---------------------------------------------------------------------------------------------------------
# information-theoretic lower bounds and bits per parameter (§2.3, §3.2, §4, §7)
# ---------------------------------------------------------------------------------------------------------


def associative_bits(N, M):
    """N·log2 M: bits to specify an arbitrary f*: [N] → [M] (§4, B1) [broadcast]. N >= 1, M >= 1 integers."""
    N = integers("N", N, 1)
    M = integers("M", M, 1)
    return out(N * np.log2(M))


def bijection_bits(N):
    """log2(N!): bits to specify a bijection of [N] (§2.3; ≈ N log2 N − N log2 e) [broadcast]. N >= 1."""
    N = integers("N", N, 1)
    return out(gammaln(N + 1.0) / _LN2)


def fact_table_bits(S, R, D):
    """S·R·log2 D: bits of a fact table with known answer sets of size D (§4, B1) [broadcast]."""
    S = integers("S", S, 1)
    R = integers("R", R, 1)
    D = integers("D", D, 1)
    return out(S * R * np.log2(D))


def answer_set_bits(R, D, exact: bool = False):
    """Bits to specify R disjoint answer sets of size D among RD answers (§4, B1) [broadcast].

    Default: the spec's RD·log2 R. ``exact=True``: log2((RD)!/(D!)^R), the multinomial count, which is
    below RD·log2 R and approaches it relatively as D grows. R, D: integers >= 1.
    """
    R = integers("R", R, 1)
    D = integers("D", D, 1)
    if exact:
        return out((gammaln(R * D + 1.0) - R * gammaln(D + 1.0)) / _LN2)
    return out(R * D * np.log2(R))


def min_parameters(bits, bits_per_param):
    """bits / b: the fewest parameters of b bits each that can hold ``bits`` (§4) [broadcast]."""
    bits = at_least("bits", bits, 0.0)
    b = at_least("bits_per_param", bits_per_param, 0.0, strict=True)
    return out(bits / b)


def min_linear_dim(N, M, bits_per_param):
    """√(N log2 M / b): smallest d with d²·b >= N log2 M for a linear memory W ∈ R^{d×d} (§4) [broadcast]."""
    return out(np.sqrt(min_parameters(associative_bits(N, M), bits_per_param)))


def bits_per_parameter(bits, P):
    """bits / P (§2.3: linear ≈ 1.1 per entry; §3.2: MLP ≈ 2.0 per 2md + m; §7: 0.45 per P_paper) [broadcast]."""
    bits = at_least("bits", bits, 0.0)
    P = at_least("P", P, 0.0, strict=True)
    return out(bits / P)
