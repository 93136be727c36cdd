"""The §8 one-hot linear-attention model: numba = naive, closed-form gradients = torch autograd on the faithful
forward, the count sampler = the §5 generator in distribution, and the mean gradients at uniform prediction = the
theory's g_r, g_s."""

import numpy as np
import pytest
import torch

import theory.memory as th
from sim.memory import naive_onehot as nv
from sim.memory import onehot as oh
from sim.memory.factual import eos_token, fact_table, sample_sequences, vocab_size
from verify.models.onehot_attention import OneHotLinearAttention, token_counts

RTOL = 1e-10
KEYS = ("loss", "loss_se", "relation_loss", "subject_loss", "accuracy", "train_loss", "a", "V")


def _close(x, y, rtol=RTOL, atol=1e-14):
    """Equal NaN patterns and |x − y| <= rtol·|y| + atol elsewhere (float64 round-off of a few dozen steps)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    assert np.array_equal(np.isnan(x), np.isnan(y))
    m = ~np.isnan(x)
    assert np.all(np.abs(x[m] - y[m]) <= rtol * np.abs(y[m]) + atol)


@pytest.mark.parametrize("S,R,D,n_noise,T,answer_sets,steps,eval_every", [
    (5, 3, 4, 3, 6, "disjoint", 13, 5),   # odd sizes, a last chunk shorter than eval_every
    (1, 2, 3, 1, 3, "disjoint", 4, 4),    # T = 3: no noise positions at all
    (4, 3, 5, 2, 7, "shared", 9, 2),      # one shared answer set
    (3, 1, 2, 7, 5, "disjoint", 1, 3),    # R = 1, a single update
])
def test_numba_equals_naive(S, R, D, n_noise, T, answer_sets, steps, eval_every):
    rng = np.random.default_rng(S * 100 + R)
    tabs = np.stack([fact_table(S, R, D, rng) for _ in range(2)])
    if answer_sets == "shared":
        tabs = tabs % D
    kw = dict(steps=steps, batch=7, lr=0.7, a0=0.3, seeds=[4, 9], eval_every=eval_every, n_test=11,
              answer_sets=answer_sets)
    f, n = oh.sgd_train(tabs, D, n_noise, T, **kw), nv.sgd_train(tabs, D, n_noise, T, **kw)
    assert np.array_equal(f.steps, n.steps) and f.steps[-1] == steps
    for k in KEYS:
        _close(getattr(f, k), getattr(n, k))
    assert not f.diverged.any()


def test_gradients_numba_naive_and_torch_autograd_on_the_faithful_forward():
    S, R, D, n_noise, T = 6, 3, 4, 5, 9
    rng = np.random.default_rng(0)
    table = fact_table(S, R, D, rng)
    tokens, _, _, answers = sample_sequences(table, D, T, n_noise, 33, rng)
    vocab, eos = vocab_size(S, R, n_noise), eos_token(S, R, n_noise)
    model = OneHotLinearAttention(vocab, R * D, dtype=torch.float64)
    with torch.no_grad():
        model.A.copy_(torch.from_numpy(rng.standard_normal((vocab, vocab))))
        model.V.copy_(torch.from_numpy(rng.standard_normal((vocab, R * D))))
    tok = torch.from_numpy(tokens)
    loss = model.loss(tok, torch.from_numpy(answers))
    loss.backward()
    counts = oh.token_counts(tokens, vocab)
    a, V = model.A[eos].detach().numpy(), model.V.detach().numpy()
    l_fast, ga, gV = oh.gradients(a, V, counts, answers)
    l_naive, ga_n, gV_n = nv.gradients(a, V, counts, answers)
    assert abs(l_fast - loss.item()) <= 1e-12 * loss.item() and abs(l_naive - l_fast) <= 1e-12 * l_fast
    np.testing.assert_allclose(ga, model.A.grad[eos].numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gV, model.V.grad.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ga_n, ga, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(gV_n, gV, rtol=1e-10, atol=1e-14)
    # the only query is EOS: every other row of A has exactly zero gradient
    others = np.delete(model.A.grad.numpy(), eos, axis=0)
    assert np.all(others == 0.0)
    # the count fast path equals the faithful forward
    fast = model.forward_counts(token_counts(tok, vocab).double(), eos)
    np.testing.assert_allclose(fast.detach().numpy(), model(tok).detach().numpy(), rtol=1e-12, atol=1e-14)


def test_sgd_step_is_lr_times_the_closed_form_gradient():
    S, R, D, n_noise, T = 4, 2, 3, 3, 6
    rng = np.random.default_rng(5)
    table = fact_table(S, R, D, rng)
    run = oh.sgd_train(table, D, n_noise, T, steps=1, batch=50, lr=0.25, a0=0.2, seeds=[3], eval_every=1,
                       n_test=5)
    # redraw the same inputs: test set first, then the one training batch
    g = np.random.default_rng(3)
    oh.draw_batch(S, R, n_noise, T, 5, g)
    subj, rel, noise = oh.draw_batch(S, R, n_noise, T, 50, g, 1)
    counts = oh.batch_counts(subj[0], rel[0], noise[0], S, R, n_noise)
    vocab = vocab_size(S, R, n_noise)
    loss, ga, gV = oh.gradients(np.full(vocab, 0.2), np.full((vocab, R * D), 0.2), counts, table[subj[0], rel[0]])
    np.testing.assert_allclose(run.a[0], 0.2 - 0.25 * ga, rtol=1e-12)
    np.testing.assert_allclose(run.V[0], 0.2 - 0.25 * gV, rtol=1e-12)
    assert abs(run.train_loss[0, 1] - loss) <= 1e-12 * loss


def test_count_sampler_matches_the_generator_in_distribution():
    """Per-sequence counts from ``draw_batch`` and from the §5 generator: exact invariants of the generator's
    counts, and the law of the counts (token marginals and the histogram of one noise token's count) equal within
    4 SE (fixed seeds, 40000 sequences each)."""
    S, R, D, n_noise, T, B = 5, 3, 2, 4, 11, 40_000
    table = fact_table(S, R, D, np.random.default_rng(1))
    vocab = vocab_size(S, R, n_noise)
    tokens, s, r, a = sample_sequences(table, D, T, n_noise, B, np.random.default_rng(2))
    c_gen = oh.token_counts(tokens, vocab)
    assert np.all(c_gen[np.arange(B), s] == 1) and np.all(c_gen[:, :S].sum(1) == 1)
    assert np.all(c_gen[np.arange(B), S + r] == 1) and np.all(c_gen[:, S:S + R].sum(1) == 1)
    assert np.all(c_gen[:, -1] == 1) and np.all(c_gen[:, S + R:-1].sum(1) == T - 3)
    assert np.array_equal(a, table[s, r])
    subj, rel, noise = oh.draw_batch(S, R, n_noise, T, B, np.random.default_rng(3))
    c_sim = oh.batch_counts(subj, rel, noise, S, R, n_noise)
    for stat in (lambda c: c, lambda c: (c[:, S + R][:, None] == np.arange(T - 2)[None, :]).astype(float)):
        x, y = stat(c_gen), stat(c_sim)
        se = np.sqrt(x.var(0) / B + y.var(0) / B) + 1e-12
        assert np.all(np.abs(x.mean(0) - y.mean(0)) <= 4 * se)


def test_mean_gradient_at_uniform_prediction_is_the_theory_g():
    """At A = V = a0·ones (predictions uniform up to O(a0²)) the closed-form gW_τ = ∂L/∂V_τ / a_τ averages to
    −g_τ of ``theory.memory.token_gradients`` (relation and subject tokens), within 4 SE over batches."""
    S, R, D, n_noise, T = 8, 2, 4, 3, 7
    table = th.structured_answer_table(S, R, D).astype(np.int64)
    tg = th.token_gradients(table, D)
    vocab, A = vocab_size(S, R, n_noise), R * D
    a0 = 1e-6
    rng = np.random.default_rng(7)
    reps = []
    for _ in range(24):
        subj, rel, noise = oh.draw_batch(S, R, n_noise, T, 2000, rng)
        _, _, gV = oh.gradients(np.full(vocab, a0), np.full((vocab, A), a0),
                                oh.batch_counts(subj, rel, noise, S, R, n_noise), table[subj, rel])
        reps.append(-gV / a0)
    reps = np.asarray(reps)
    mean, se = reps.mean(0), reps.std(0, ddof=1) / np.sqrt(len(reps))
    want = np.concatenate([tg.subject, tg.relation])
    got, got_se = mean[:S + R], se[:S + R]
    assert np.all(np.abs(got - want) <= 4 * got_se + 1e-9)
    # noise and EOS: zero mean gradient for the uniform marginal (D | S)
    assert np.all(np.abs(mean[S + R:]) <= 4 * se[S + R:] + 1e-9)
    np.testing.assert_allclose(np.linalg.norm(tg.relation[0]), th.relation_gradient_norm(R, D), rtol=1e-12)


def test_structured_run_reaches_the_hallucination_plateau():
    """A short structured run (S16 R4 D8, a0 = 1e-3 so the stages come early) passes ln(RD) → ln D."""
    table = th.structured_answer_table(16, 4, 8).astype(np.int64)
    r = oh.sgd_train(table, 8, 20, 32, steps=1792, batch=256, lr=0.1, a0=1e-3, seeds=[0], eval_every=64,
                     n_test=1024)
    assert abs(r.loss[0, 0] - np.log(32)) < 1e-6
    i = list(r.steps).index(1792)
    assert abs(r.loss[0, i] - np.log(8)) < 0.05 and r.relation_loss[0, i] < 0.05
    assert abs(r.subject_loss[0, i] - np.log(8)) < 0.01


def test_divergence_is_flagged_and_matches_naive():
    table = fact_table(3, 2, 2, np.random.default_rng(0))
    # a_τ v_τ beyond the float64 range: the logits overflow and the first loss is non-finite
    kw = dict(steps=6, batch=5, lr=0.1, a0=1e160, seeds=[1, 2], eval_every=2, n_test=4)
    f, n = oh.sgd_train(table, 2, 2, 5, **kw), nv.sgd_train(table, 2, 2, 5, **kw)
    assert f.diverged.all() and np.array_equal(f.diverged, n.diverged)
    assert np.isnan(f.loss[:, 1:]).all() and np.isnan(f.train_loss).all()
    assert np.all(f.a == 1e160)  # stopped before the update of the non-finite step
    for k in ("loss", "accuracy", "a", "V"):
        _close(getattr(f, k), getattr(n, k))


def test_a_longer_run_extends_a_shorter_one():
    table = fact_table(4, 2, 3, np.random.default_rng(0))
    kw = dict(batch=9, lr=0.5, a0=0.1, seeds=[0], eval_every=3, n_test=6)
    short, long = oh.sgd_train(table, 3, 2, 5, steps=6, **kw), oh.sgd_train(table, 3, 2, 5, steps=12, **kw)
    np.testing.assert_array_equal(short.loss, long.loss[:, :3])


@pytest.mark.parametrize("kwargs,match", [
    (dict(tables=np.array([[0, 7]]), D=3), "tables"),
    (dict(tables=np.array([[0, 3]]), D=3, answer_sets="other"), "answer_sets"),
    (dict(tables=np.array([[0, 3]]), D=3, T=2), "T must"),
    (dict(tables=np.array([[0, 3]]), D=3, lr=-1.0), "lr"),
    (dict(tables=np.array([[0, 3]]), D=3, seeds=[]), "seeds"),
    (dict(tables=np.array([[[0, 3]]] * 3), D=3, seeds=[0, 1]), "one \\[S, R\\] table per seed"),
])
def test_bad_inputs_raise(kwargs, match):
    args = dict(n_noise=2, T=5, steps=1, seeds=[0])
    args.update(kwargs)
    tables, D = args.pop("tables"), args.pop("D")
    n_noise, T = args.pop("n_noise"), args.pop("T")
    with pytest.raises(ValueError, match=match):
        oh.sgd_train(tables, D, n_noise, T, **args)
    with pytest.raises(ValueError, match="counts"):
        oh.gradients(np.zeros(3), np.zeros((3, 2)), -np.ones((1, 3)), np.array([0]))
