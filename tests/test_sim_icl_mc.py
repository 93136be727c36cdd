"""sim.icl Monte Carlo of the §4 moments (claim #1) and the §3.6 inits."""

import numpy as np
import pytest

import sim.icl as icl
from sim.icl import kernels, montecarlo, naive
from theory.icl.moments import loss as pop_loss, population_moments


def rotated(eigvals, seed):
    Qr, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigvals), len(eigvals))))
    return Qr @ np.diag(eigvals) @ Qr.T


# ------------------------------------------------------------------------------------------------------------
# Monte Carlo


@pytest.mark.parametrize("D,N,n_samples,k", [(3, 1, 37, 1), (1, 4, 5, 0), (2, 3, montecarlo.CHUNK + 11, 2)])
def test_mc_numba_matches_naive(D, N, n_samples, k):
    """Same draws, same partial-sum blocks: agreement to round-off; B < n_blocks leaves empty blocks."""
    Lam = rotated(np.linspace(1.0, 0.5, D), seed=D)
    M = np.random.default_rng(0).standard_normal((k, D, D)) if k else None
    fast = icl.mc_moments(Lam, N, n_samples, seed=3, M=M)
    ref = icl.naive.mc_moments(Lam, N, n_samples, seed=3, M=M)
    np.testing.assert_allclose(fast.S2, ref.S2, rtol=1e-10)
    np.testing.assert_allclose(fast.S2_se, ref.S2_se, rtol=1e-8)
    assert fast.n_samples == n_samples and fast.S2.shape == (D, D)
    if k:
        np.testing.assert_allclose(fast.loss, ref.loss, rtol=1e-10)
        np.testing.assert_allclose(fast.loss_se, ref.loss_se, rtol=1e-8)
        assert fast.loss.shape == (k,)
    else:
        assert fast.loss is None and ref.loss is None


def test_mc_kernel_writes_every_block():
    D, N, B, nb, k = 2, 3, 5, 8, 2
    rng = np.random.default_rng(1)
    args = (np.linalg.cholesky(np.eye(D)), rng.standard_normal((B, N + 1, D)), rng.standard_normal((B, D)),
            rng.standard_normal((k, D, D)))
    outs = {}
    for name, kern in (("fast", kernels.mc_kernel), ("ref", naive.mc_kernel)):
        bufs = [np.full((nb, D, D), np.nan), np.full((nb, D, D), np.nan), np.full((nb, k), np.nan),
                np.full((nb, k), np.nan)]
        kern(*args, *bufs)
        assert all(np.all(np.isfinite(b)) for b in bufs)
        outs[name] = bufs
    for a, b in zip(outs["fast"], outs["ref"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_mc_moments_match_population_formulas():
    """Claim #1: E[Λ̂²] = Λ² + (Λ + tr Λ·I)Λ/N and L(M) of §4, entrywise within 4 standard errors."""
    Lam = rotated([0.4, 0.3, 0.2, 0.1], seed=7)
    N = 31
    mom = population_moments(Lam, N)
    Gamma = np.linalg.inv((1 + 1 / N) * Lam + np.trace(Lam) / N * np.eye(4))  # Γ*, the minimizer (§5.5)
    Ms = np.stack([np.zeros((4, 4)), Gamma, 0.5 * Gamma + 0.3 * np.random.default_rng(2).standard_normal((4, 4))])
    mc = icl.mc_moments(Lam, N, 60_000, seed=11, M=Ms)
    assert np.all(mc.S2_se > 0) and np.all(mc.loss_se > 0)
    z = np.abs(mc.S2 - mom.S2) / mc.S2_se
    assert z.max() < 4.0, z
    L = np.array([pop_loss(M, mom) for M in Ms])
    assert np.all(np.abs(mc.loss - L) < 4.0 * mc.loss_se), (mc.loss, L, mc.loss_se)
    assert L[1] == pytest.approx(0.135995, abs=1e-6)  # L* of §8, rotation invariant
    # the N-dependent correction is resolved: Λ² alone is excluded
    assert np.max(np.abs(mc.S2 - mom.Lam2) / mc.S2_se) > 10


def test_mc_input_validation():
    with pytest.raises(ValueError, match="M"):
        icl.mc_moments(np.eye(2), 3, 10, 0, M=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="n_samples"):
        icl.mc_moments(np.eye(2), 3, 1, 0)
    with pytest.raises(ValueError, match="Lam"):
        icl.mc_moments(np.ones((2, 2)), 3, 10, 0)


# ------------------------------------------------------------------------------------------------------------
# inits


def test_init_attn_m_and_mlp_scales_and_units():
    n, H, D, N, init = 40, 8, 4, 31, 1e-2
    v, U = icl.init_attn_m(n, H, D, init, seed=0)
    assert v.shape == (n, H) and U.shape == (n, H, D, D)
    # std of n·H·D² = 5120 Gaussian draws: relative SE ≈ 1/√(2·5120) = 1%
    assert np.std(U) == pytest.approx(init, rel=0.05) and abs(np.mean(U)) < 4 * init / np.sqrt(U.size)
    vp, Up = icl.init_attn_m(n, H, D, init, seed=0, units="paper", N=N)
    np.testing.assert_allclose(Up, np.sqrt(N) * U, rtol=1e-15)
    np.testing.assert_allclose(vp, np.sqrt(N) * v, rtol=1e-15)
    w2, W1 = icl.init_mlp(n, H, D, init, seed=0)
    assert w2.shape == (n, H) and W1.shape == (n, H, D * D)
    assert np.std(W1) == pytest.approx(init, rel=0.05)
    np.testing.assert_array_equal(icl.init_mlp(n, H, D, init, seed=0)[1], W1)  # same seed, same draws
    assert not np.array_equal(icl.init_mlp(n, H, D, init, seed=1)[1], W1)
    with pytest.raises(ValueError, match="N"):
        icl.init_attn_m(n, H, D, init, seed=0, units="paper")


def test_init_attn_s_schemes():
    n, H, R, D, N, init = 50, 5, 3, 4, 31, 0.01
    v, K, Q = icl.init_attn_s(n, H, R, D, init, seed=0)
    assert v.shape == (n, H) and K.shape == Q.shape == (n, H, R, D)
    assert np.std(K) == pytest.approx(init / np.sqrt(R * (D + 1)), rel=0.05)
    assert np.std(Q) == pytest.approx(init / np.sqrt(R * (D + 1)), rel=0.05)
    assert np.std(v) == pytest.approx(init, rel=0.15)  # 250 draws: relative SE ≈ 4.5%
    v2, K2, Q2 = icl.init_attn_s(n, H, R, D, init, seed=0, scheme="dec2025")
    # same draws, rescaled: key/query by 1/√H, value by 1/(√H (D+1))
    np.testing.assert_allclose(K2, K / np.sqrt(H), rtol=1e-14)
    np.testing.assert_allclose(v2, v / (np.sqrt(H) * (D + 1)), rtol=1e-14)
    vp, Kp, Qp = icl.init_attn_s(n, H, R, D, init, seed=0, units="paper", N=N)
    np.testing.assert_allclose(Kp, N ** (1 / 3) * K, rtol=1e-14)
    with pytest.raises(ValueError, match="scheme"):
        icl.init_attn_s(n, H, R, D, init, seed=0, scheme="2024")


def test_aligned_inits():
    Lam = rotated([0.4, 0.3, 0.2, 0.1], seed=4)
    e1 = np.linalg.eigh(Lam)[1][:, -1]
    v, K, Q = icl.aligned_attn_s_single_head(3, 2, 4, 0.05, Lam)
    assert v.shape == (1, 3) and K.shape == (1, 3, 2, 4)
    assert v[0, 0] == 0.05 and np.all(v[0, 1:] == 0)
    assert abs(K[0, 0, 0] @ e1) == pytest.approx(0.05, rel=1e-14)
    np.testing.assert_array_equal(K, Q)
    assert np.all(K[0, 1:] == 0) and np.all(K[0, 0, 1:] == 0)
    v, U = icl.aligned_attn_m(8, 4, 1e-3)
    M = np.einsum("i,iab->ab", v[0], U[0])
    np.testing.assert_allclose(M, 1e-6 * np.eye(4) / 2, rtol=1e-14)  # M(0) = w_init² I/√D
    np.testing.assert_allclose(v[0] ** 2, np.sum(U[0] ** 2, axis=(1, 2)), rtol=1e-14)  # balanced
    with pytest.raises(ValueError, match="Lam"):
        icl.aligned_attn_s_single_head(3, 2, 3, 0.05, Lam)
