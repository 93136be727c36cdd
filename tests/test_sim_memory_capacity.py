"""sim.memory.capacity: embeddings, W_q memories, blocked top-1 errors, Hebbian Monte Carlo, capacity search and
the logistic success curve, each against its naive reference, exact cases or a sampling tolerance."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import theory.memory as th
from sim.memory import capacity as C
from sim.memory import naive as Nv

# --- embeddings, targets, problems ---------------------------------------------------------------------------------


def test_sphere_rows_are_unit_and_gaussian_rows_have_unit_mean_square():
    rng = np.random.default_rng(0)
    X = C.embeddings(500, 7, rng, "sphere")
    assert np.max(np.abs(np.linalg.norm(X, axis=1) - 1.0)) < 1e-12
    G = C.embeddings(4000, 5, np.random.default_rng(1), "gaussian")
    sq = np.sum(G**2, axis=1)
    # E‖x‖² = 1 and Var‖x‖² = 2/d for N(0, I/d): 4 SE of the mean over 4000 rows
    assert abs(sq.mean() - 1.0) < 4 * np.sqrt(2 / 5 / 4000)


def test_draws_are_nested_in_N():
    small = C.memory_problem(9, 5, None, seed=[3, 1])
    big = C.memory_problem(40, 5, None, seed=[3, 1])
    assert np.array_equal(small.E, big.E[:9]) and np.array_equal(small.U, big.U[:9])
    r_small = C.memory_problem(11, 4, 2, seed=7, targets_kind="random")
    r_big = C.memory_problem(30, 4, 2, seed=7, targets_kind="random")
    assert np.array_equal(r_small.f_star, r_big.f_star[:11]) and np.array_equal(r_small.U, r_big.U)


def test_targets():
    assert np.array_equal(C.targets(5, None, "bijection"), np.arange(5))
    f = C.targets(100, 32, "blocks")
    counts = np.bincount(f, minlength=32)
    assert counts.min() >= 3 and counts.max() <= 4 and np.all(np.diff(f) >= 0)
    assert np.array_equal(C.targets(7, 32, "blocks"), (np.arange(7) * 32) // 7)  # N < M: injective
    assert len(set(C.targets(7, 32, "blocks"))) == 7
    r = C.targets(1000, 2, "random", np.random.default_rng(0))
    assert set(r) == {0, 1} and abs(r.mean() - 0.5) < 4 * 0.5 / np.sqrt(1000)


@pytest.mark.parametrize("call, name", [
    (lambda: C.embeddings(3, 2, np.random.default_rng(0), "cube"), "law"),
    (lambda: C.memory_problem(0, 3), "N"),
    (lambda: C.memory_problem(3, 3, 1), "M"),
    (lambda: C.memory_problem(3, 3, None, targets_kind="blocks"), "bijection"),
    (lambda: C.memory_problem(3, 3, 4, targets_kind="bijection"), "bijection"),
    (lambda: C.memory_problem(3, 3, seed=-1), "seed"),
    (lambda: C.targets(3, 2, "random"), "rng"),
    (lambda: C.hebbian_accuracy(5, None, 4, draws=1), "draws"),
    (lambda: C.hebbian_capacity(8, level=1.5), "level"),
    (lambda: C.hebbian_capacity(8, ratio=1.0), "ratio"),
    (lambda: C.top1_errors(np.eye(2), np.ones((3, 2)), np.ones((2, 2)), np.array([0, 1, 2])), "f_star"),
    (lambda: C.top1_errors(np.eye(3), np.ones((3, 2)), np.ones((2, 2)), np.array([0, 1, 1])), "W"),
    (lambda: C.weighted_memory(np.ones(2), np.ones((3, 2)), np.ones((2, 2)), np.array([0, 1, 1])), "q"),
])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# --- kernels against the naive references (awkward sizes) ---------------------------------------------------------


@pytest.mark.parametrize("N, M, de, du", [(1, 1, 1, 1), (7, 3, 5, 2), (13, 13, 3, 9), (40, 5, 6, 6)])
def test_weighted_memory_matches_naive_and_theory(N, M, de, du):
    rng = np.random.default_rng(N * 100 + M)
    E, U = rng.standard_normal((N, de)), rng.standard_normal((M, du))
    f, q = rng.integers(0, M, N), rng.standard_normal(N)
    W = C.weighted_memory(q, E, U, f)
    np.testing.assert_allclose(W, Nv.weighted_memory(q, E, U, f), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(W, th.weighted_memory(q, E, U, f), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("N, M, de, du", [(1, 2, 1, 1), (9, 4, 3, 5), (33, 33, 7, 7), (301, 17, 4, 6)])
def test_top1_errors_match_naive_exact_and_capped(N, M, de, du, monkeypatch):
    rng = np.random.default_rng(N + M)
    E, U, W = rng.standard_normal((N, de)), rng.standard_normal((M, du)), rng.standard_normal((du, de))
    f = rng.integers(0, M, N)
    exact = Nv.top1_errors(W, E, U, f)
    assert exact == int(np.sum(np.argmax(E @ W.T @ U.T, axis=1) != f))
    monkeypatch.setattr(C, "SCORE_BUDGET", 3 * M)  # blocks of 3 inputs: exercises the block loop and remainder
    assert C.top1_errors(W, E, U, f) == exact
    for cap in (0, 1, exact // 2, exact, exact + 5):
        assert C.top1_errors(W, E, U, f, cap) == Nv.top1_errors(W, E, U, f, cap) == min(exact, cap + 1)


def test_ties_go_to_the_lowest_class_as_in_numpy_argmax():
    U = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # classes 0 and 1 tie on every input
    E = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    W = np.eye(2)
    f = np.array([0, 1, 2])
    assert C.top1_errors(W, E, U, f) == Nv.top1_errors(W, E, U, f) == 1  # input 1 decodes to class 0


def test_near_ties_below_float32_resolution_are_decided_in_float64():
    rng = np.random.default_rng(3)
    d, M = 16, 40
    U = rng.standard_normal((M, d))
    U[1::2] = U[0::2] + 1e-9 * rng.standard_normal((M // 2, d))  # pairs of classes 1e-9 apart
    E = rng.standard_normal((300, d))
    W = rng.standard_normal((d, d))
    S = E @ W.T @ U.T
    f = np.argsort(S, axis=1)[:, -2]  # the runner-up: every decision hinges on a near tie half the time
    f[::3] = np.argmax(S[::3], axis=1)
    exact = int(np.sum(np.argmax(S, axis=1) != f))
    assert 0 < exact < 300 and C.top1_errors(W, E, U, f) == Nv.top1_errors(W, E, U, f) == exact


def test_kernels_write_every_output_and_match_naive_over_draws():
    rng = np.random.default_rng(5)
    R, N, M, d = 6, 23, 23, 4
    E, U = rng.standard_normal((R, N, d)), rng.standard_normal((R, M, d))
    f = np.tile(np.arange(N), (R, 1))
    out_fast, out_naive = np.full(R, -7, np.int64), np.full(R, -7, np.int64)
    C.hebbian_errors_kernel(E, U, f, -1, 5, out_fast)
    Nv.hebbian_errors_kernel(E, U, f, -1, 5, out_naive)
    assert np.all(out_fast >= 0) and np.array_equal(out_fast, out_naive)
    W = np.full((R, d, d), np.nan)
    C.weighted_memory_kernel(np.ones((R, N)), E, U, f, W)
    Wn = np.empty_like(W)
    Nv.weighted_memory_kernel(np.ones((R, N)), E, U, f, Wn)
    np.testing.assert_allclose(W, Wn, rtol=1e-10, atol=1e-12)


def test_orthonormal_embeddings_give_a_perfect_hebbian_memory():
    d = 12
    Q = np.linalg.qr(np.random.default_rng(0).standard_normal((d, d)))[0]
    E, U = Q[:9], Q[[3, 1, 4, 0, 5, 9, 2, 6, 8]]
    W = C.weighted_memory(np.ones(9), E, U, np.arange(9))
    np.testing.assert_allclose(U @ W @ E.T, np.eye(9), atol=1e-12)  # scores u_yᵀWe_x = δ_xy
    assert C.top1_accuracy(W, E, U, np.arange(9)) == 1.0


# --- Monte Carlo and capacity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("N, M, d, law", [(7, None, 3, "sphere"), (40, 5, 6, "gaussian"), (20, 32, 8, "sphere")])
def test_hebbian_accuracy_matches_naive(N, M, d, law):
    a = C.hebbian_accuracy(N, M, d, draws=5, seed=[1, 2], law=law)
    b = Nv.hebbian_accuracy(N, M, d, draws=5, seed=[1, 2], law=law)
    assert np.array_equal(a.acc, b.acc) and a.mean == b.mean
    assert a.se == pytest.approx(np.std(a.acc, ddof=1) / np.sqrt(5))


def test_hebbian_capacity_matches_naive_search_path():
    a = C.hebbian_capacity(12, None, draws=6, seed=3)
    b = Nv.hebbian_capacity(12, None, draws=6, seed=3)
    assert a.N == b.N and np.array_equal(a.sizes, b.sizes) and np.array_equal(a.success, b.success)
    assert a.status == "converged" and a.success[list(a.sizes).index(a.N)]
    # the reported N_99 is exact: its mean accuracy over the same draws is >= 0.99 and N + 1 (or hi) fails
    assert C.hebbian_accuracy(a.N, None, 12, draws=6, seed=3).mean >= 0.99


def test_early_exit_decides_the_same_success_as_exact_counts():
    for N in (20, 30, 45):
        exact = C.hebbian_accuracy(N, None, 10, draws=8, seed=9)
        r = C.hebbian_capacity(10, None, draws=8, seed=9, lo=N - 1, hi=N, ratio=2.0)
        assert r.success[list(r.sizes).index(N)] == (exact.mean >= 0.99)


def test_hebbian_capacity_at_d32_is_the_spec_constant():
    # §2.2: N_99/d² = 0.027–0.035 (M = N, 20 draws); two seeds are both inside [0.02, 0.04] (A3's band)
    for seed in (0, 1):
        r = C.hebbian_capacity(32, None, draws=20, seed=seed)
        assert r.status == "converged" and 0.02 <= r.N / 32**2 <= 0.04
        assert 0.8 <= th.hebbian_threshold_statistic(r.N, r.N, 32, "spec") <= 1.25


# --- capacity search ------------------------------------------------------------------------------------------------


def _drive(search, T):
    C.run_searches([search], lambda todo: [N <= T for _, N in todo])
    return search


@settings(max_examples=60, deadline=None)
@given(T=st.integers(2, 3000), lo=st.integers(2, 500), span=st.integers(1, 800), points=st.integers(1, 4),
       expand=st.sampled_from([1.5, 2.0, 3.0]))
def test_search_finds_a_sharp_threshold_from_any_bracket(T, lo, span, points, expand):
    s = _drive(C.CapacitySearch(lo, lo + span, ratio=1.0001, expand=expand, min_size=2, points=points), T)
    assert s.status == "converged" and s.N == T and s.hi == T + 1
    assert len(s.history) == len({N for N, _ in s.history})  # no size tested twice
    assert all(ok == (N <= T) for N, ok in s.history)


def test_search_censoring_and_ratio_stop():
    assert _drive(C.CapacitySearch(5, 9, min_size=3), 2).status == "below"
    s = _drive(C.CapacitySearch(5, 9, max_size=40), 100)
    assert s.status == "above" and s.N == 40
    s = _drive(C.CapacitySearch(100, 400, ratio=1.05), 250)
    assert s.status == "converged" and s.lo <= 250 < s.hi and s.hi / s.lo <= 1.05


def test_first_round_tests_both_brackets_and_interior_points():
    s = C.CapacitySearch(10, 100, points=3)
    assert s.pending[0] == 10 and s.pending[-1] == 100 and len(s.pending) == 5
    assert C.CapacitySearch(10, 100).pending == [10, 100]
    with pytest.raises(ValueError, match="pending"):
        s.record(50, True)


def test_noisy_outcomes_use_the_smallest_failure_and_the_largest_success_below_it():
    s = C.CapacitySearch(10, 100, points=3, ratio=1.5)
    outcome = {10: True, 18: True, 32: False, 56: True, 100: False}  # 56 succeeds above a failure
    for N in s.pending:
        s.record(N, outcome[N])
    assert (s.lo, s.hi) == (18, 32)


def test_lockstep_searches_equal_sequential_ones():
    Ts = [17, 250, 3]
    lock = [C.CapacitySearch(5, 50, points=2) for _ in Ts]
    C.run_searches(lock, lambda todo: [N <= Ts[i] for i, N in todo])
    for s, T in zip(lock, Ts):
        alone = _drive(C.CapacitySearch(5, 50, points=2), T)
        assert (s.status, s.N, s.history) == (alone.status, alone.N, alone.history)


# --- logistic success curve ----------------------------------------------------------------------------------------


def test_logistic_fit_recovers_a_known_curve():
    rng = np.random.default_rng(0)
    N50, b = 200.0, -6.0
    sizes = np.repeat(np.round(np.geomspace(100, 400, 12)), 60)
    p = 1 / (1 + np.exp(-b * (np.log(sizes) - np.log(N50))))
    fit = C.logistic_capacity(sizes, rng.random(sizes.size) < p)
    assert fit.valid and fit.overlap and fit.b < 0
    assert abs(np.log(fit.N_level) - np.log(N50)) < 4 * fit.se_log
    assert fit.ci[0] < fit.N_level < fit.ci[1]
    q = C.logistic_capacity(sizes, rng.random(sizes.size) < p, p=0.9)
    assert q.N_level < fit.N_level  # higher success probability at smaller sizes


def test_logistic_fit_is_finite_under_separation():
    fit = C.logistic_capacity([10, 20, 30, 40, 50], [1, 1, 1, 0, 0])
    assert fit.valid and not fit.overlap and 30 < fit.N_level < 40


def test_logistic_fit_rejects_bad_input():
    with pytest.raises(ValueError, match="success"):
        C.logistic_capacity([1, 2, 3], [0, 2, 1])
    with pytest.raises(ValueError, match="p must"):
        C.logistic_capacity([1, 2], [1, 0], p=1.0)


def test_allowed_errors():
    assert [C.allowed_errors(0.99, n) for n in (1, 99, 100, 1000, 1099)] == [0, 0, 1, 10, 10]
    assert C.allowed_errors(1.0, 50) == 0
