"""The factual-recall generator of associative_memory.md §5 (sim.memory.factual): layout invariants in every mode,
exact laws (positions, Zipf marginals, structured answer marginal), the invariant checker's power to reject a
corrupted sample, and input validation."""

import numpy as np
import pytest

from sim.memory.factual import (
    FactRecall,
    answer_marginal,
    eos_token,
    fact_table,
    noise_range,
    rank_probabilities,
    sample_sequences,
    sequence_invariants,
    vocab_size,
)
from theory.memory import structured_answer_table

K_SE = 5.0  # frequency tolerance in binomial standard errors (false-alarm probability < 1e-5 per cell)


def _z(counts, probs):
    n = counts.sum()
    keep = (probs > 0) & (probs < 1)
    return np.max(np.abs(counts[keep] - n * probs[keep]) / np.sqrt(n * probs[keep] * (1 - probs[keep])))


def test_vocabulary_layout():
    assert vocab_size(16, 4, 20) == 41  # §8.2: vocab 41
    assert eos_token(16, 4, 20) == 40
    assert noise_range(16, 4, 20) == (20, 40)
    assert vocab_size(3, 2, 0) == 6


@pytest.mark.parametrize("S,R,D", [(1, 1, 1), (5, 3, 2), (16, 4, 8), (7, 11, 3)])
def test_fact_table_answers_in_their_relation_set(S, R, D):
    tab = fact_table(S, R, D, np.random.default_rng(0))
    assert tab.shape == (S, R) and tab.dtype == np.int64
    r = np.arange(R)[None, :]
    assert np.all((tab >= r * D) & (tab < (r + 1) * D))


def test_random_table_is_uniform_within_each_set():
    S, R, D = 4000, 3, 5
    tab = fact_table(S, R, D, np.random.default_rng(1))
    for r in range(R):
        assert _z(np.bincount(tab[:, r] - r * D, minlength=D), np.full(D, 1 / D)) < K_SE


def test_structured_table_and_rng_advance():
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    tab = fact_table(16, 4, 8, g1, structured=True)
    np.testing.assert_array_equal(tab, structured_answer_table(16, 4, 8))
    assert tab[3, 2] == (3 * 8) // 16 + 2 * 8
    fact_table(16, 4, 8, g2, structured=False)
    assert g1.integers(1 << 30) == g2.integers(1 << 30)  # both modes consume the same draws


@pytest.mark.parametrize("eos", [True, False])
@pytest.mark.parametrize("alpha", [0.0, 1.3])
@pytest.mark.parametrize("S,R,D,T,n_noise", [(16, 4, 8, 32, 20), (5, 3, 2, 7, 1), (2, 9, 3, 4, 5)])
def test_samples_satisfy_every_invariant(S, R, D, T, n_noise, eos, alpha):
    rng = np.random.default_rng(2)
    tab = fact_table(S, R, D, rng)
    out = sample_sequences(tab, D, T, n_noise, 3000, rng, eos=eos, alpha_s=alpha, alpha_r=alpha)
    tok, s, r, a = out
    assert tok.shape == (3000, T) and tok.dtype == np.int64
    assert all(sequence_invariants(*out, tab, D, n_noise, eos=eos).values())
    np.testing.assert_array_equal(a, tab[s, r])


@pytest.mark.parametrize("eos,T", [(True, 3), (False, 2)])
def test_fully_fixed_layout_needs_no_noise(eos, T):
    tab = fact_table(3, 2, 4, np.random.default_rng(0))
    out = sample_sequences(tab, 4, T, 0, 500, np.random.default_rng(1), eos=eos)
    assert all(sequence_invariants(*out, tab, 4, 0, eos=eos).values())


def test_positions_are_uniform_and_distinct():
    """EOS mode: (subject, relation) positions uniform over ordered pairs of distinct slots in [0, T − 2]."""
    T, n = 6, 40_000
    tab = fact_table(4, 3, 2, np.random.default_rng(0))
    tok, _, _, _ = sample_sequences(tab, 2, T, 5, n, np.random.default_rng(3))
    ps = np.argmax(tok < 4, axis=1)
    pr = np.argmax((tok >= 4) & (tok < 7), axis=1)
    pair = ps * (T - 1) + pr
    probs = np.array([0.0 if i == j else 1 / ((T - 1) * (T - 2)) for i in range(T - 1) for j in range(T - 1)])
    counts = np.bincount(pair, minlength=(T - 1) ** 2)
    assert counts[probs == 0].sum() == 0
    assert _z(counts, probs) < K_SE
    noise = tok[:, :-1][(tok[:, :-1] >= 7)]
    assert _z(np.bincount(noise - 7, minlength=5), np.full(5, 0.2)) < K_SE


def test_zipf_marginals_match_exact_law():
    S, R, D, n = 12, 5, 3, 50_000
    rng = np.random.default_rng(4)
    tab = fact_table(S, R, D, rng)
    _, s, r, a = sample_sequences(tab, D, 8, 10, n, rng, alpha_s=1.5, alpha_r=0.7)
    assert _z(np.bincount(s, minlength=S), rank_probabilities(1.5, S)) < K_SE
    assert _z(np.bincount(r, minlength=R), rank_probabilities(0.7, R)) < K_SE
    assert _z(np.bincount(a, minlength=R * D), answer_marginal(tab, D, 1.5, 0.7)) < K_SE
    p = rank_probabilities(2.0, 4)
    np.testing.assert_allclose(p, np.array([1, 1 / 4, 1 / 9, 1 / 16]) / (1 + 1 / 4 + 1 / 9 + 1 / 16), rtol=1e-14)
    np.testing.assert_array_equal(rank_probabilities(0.0, 3), np.full(3, 1 / 3))


def test_structured_answer_marginal_is_exactly_uniform():
    tab = fact_table(16, 4, 8, np.random.default_rng(0), structured=True)
    marg = answer_marginal(tab, 8)
    assert np.max(np.abs(marg - 1 / 32)) < 1e-15
    rnd = answer_marginal(fact_table(3, 4, 8, np.random.default_rng(0)), 8)
    assert abs(rnd.sum() - 1) < 1e-14 and np.max(rnd) > 1 / 32  # S < D: a random table cannot be uniform


def test_same_seed_same_sample():
    tab = fact_table(6, 3, 4, np.random.default_rng(0))
    a = sample_sequences(tab, 4, 10, 9, 64, np.random.default_rng(7))
    b = sample_sequences(tab, 4, 10, 9, 64, np.random.default_rng(7))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_invariant_checker_rejects_corruption():
    S, R, D, T, n_noise = 5, 3, 4, 8, 6
    tab = fact_table(S, R, D, np.random.default_rng(0))
    tok, s, r, a = sample_sequences(tab, D, T, n_noise, 50, np.random.default_rng(1))
    good = sequence_invariants(tok, s, r, a, tab, D, n_noise)
    assert all(good.values())

    bad = tok.copy()
    bad[0, T - 1] = S + R  # EOS overwritten by noise
    assert not sequence_invariants(bad, s, r, a, tab, D, n_noise)["eos_last"]
    bad = tok.copy()
    pos = int(np.argmax(bad[1] >= S + R))  # a noise slot, before the last position
    bad[1, pos] = (s[1] + 1) % S  # a second subject
    assert not sequence_invariants(bad, s, r, a, tab, D, n_noise)["one_subject"]
    wrong = a.copy()
    wrong[2] = (wrong[2] - r[2] * D + 1) % D + r[2] * D
    assert not sequence_invariants(tok, s, r, wrong, tab, D, n_noise)["answers_in_set"]
    assert not sequence_invariants(tok, s, (r + 1) % R, a, tab, D, n_noise)["one_relation"]
    assert not sequence_invariants(tok, s, r, a, tab, D, n_noise, eos=False)["one_relation"]
    assert not sequence_invariants(tok[:, :, None], s, r, a, tab, D, n_noise)["shapes"]


def test_task_object_defaults():
    task = FactRecall.make(16, 4, 8, np.random.default_rng(0))
    assert (task.n_noise, task.vocab, task.eos_id, task.n_answers, task.facts) == (20, 41, 40, 32, 64)
    out = task.sample(100, np.random.default_rng(1))
    assert all(sequence_invariants(*out, task.table, 8, 20).values())


@pytest.mark.parametrize("call,match", [
    (lambda: vocab_size(0, 2, 3), "S"),
    (lambda: vocab_size(2, 2, -1), "n_noise"),
    (lambda: fact_table(2, 2, 0, np.random.default_rng(0)), "D"),
    (lambda: fact_table(2, 2, 2, 0), "rng"),
    (lambda: sample_sequences(np.array([[0, 2], [1, 3]]), 2, 2, 3, 4, np.random.default_rng(0)), "T"),
    (lambda: sample_sequences(np.array([[0, 2], [1, 3]]), 2, 5, 0, 4, np.random.default_rng(0)), "n_noise"),
    (lambda: sample_sequences(np.array([[0, 0]]), 2, 5, 3, 4, np.random.default_rng(0)), "table"),
    (lambda: sample_sequences(np.array([[0, 2], [1, 3]]), 2, 5, 3, 4, np.random.default_rng(0), alpha_s=-1.0),
     "alpha_s"),
    (lambda: rank_probabilities(float("nan"), 3), "alpha"),
])
def test_bad_input_names_the_parameter(call, match):
    with pytest.raises(ValueError, match=match):
        call()
