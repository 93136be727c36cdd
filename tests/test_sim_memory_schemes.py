"""Cabannes et al. memories (§9): the numba Monte Carlo = the explicit-memory reference, exact cases with orthonormal
embeddings, Monte Carlo vs closed forms, the margin table vs the theory recursion; and the torch optimisation
models of §9.4 against the official single-model form and torch's Adam."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import theory.memory as th
from sim.memory import naive_schemes as ns
from sim.memory import schemes as sc
from verify.models.cabannes import MemoryModels, layer_norm, sample_inputs, train_counts, train_one_pass, zipf

SCHEMES = [{"scheme": "threshold", "K_per_d": 0.25}, "frequency", "fill", "seen", {"scheme": "power", "rho": 0.5},
           {"scheme": "threshold", "K": 0}]


def test_kernel_equals_explicit_memories_on_odd_sizes():
    rng = np.random.default_rng(0)
    B, N, M, d, C = 3, 37, 4, 7, 5
    E, U = rng.standard_normal((B, N, d)), rng.standard_normal((B, M, d))
    f = rng.integers(0, M, N)
    p = rng.random(N)
    Q = rng.random((B, C, N)) * (rng.random((B, C, N)) < 0.6)
    Q[:, 0] = 0.0  # an empty memory: every score ties at 0, the lowest class wins in both paths
    a, fa = sc.memory_errors(E, U, f, p, Q, return_fraction=True)
    b, fb = ns.memory_errors(E, U, f, p, Q, return_fraction=True)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(fa, fb, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(a[:, 0], p[f != 0].sum(), rtol=1e-12)


def test_monte_carlo_equals_reference_and_does_not_depend_on_blocks(monkeypatch):
    kw = dict(alpha=1.5, N=53, M=3, trials=5, seed=2)
    T = [None, 40, 300]
    a = sc.scheme_error_mc(SCHEMES, [3, 8, 17], T, **kw)
    b = ns.scheme_error_mc(SCHEMES, [3, 8, 17], T, **kw)
    np.testing.assert_allclose(a.per_trial, b.per_trial, rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(a.fraction, b.fraction, rtol=1e-10, atol=1e-15)
    monkeypatch.setattr(sc, "BUDGET", 1)  # two trials per kernel call
    c = sc.scheme_error_mc(SCHEMES, [3, 8, 17], T, **kw)
    np.testing.assert_array_equal(a.per_trial, c.per_trial)
    np.testing.assert_array_equal(a.unseen, c.unseen)


def test_orthonormal_embeddings_store_exactly_the_kept_tokens():
    """E = I (d = N), U orthonormal: score of class y for x is q(x)·1{y = f*(x)}, so a kept token is right and
    an unkept one scores 0 everywhere (class 0 wins): E = Σ_{x unkept, f*(x) ≠ 0} p(x)."""
    N, M = 40, 4
    p = th.zipf_probabilities(2.0, N)
    f = np.arange(N) % M
    E = np.eye(N)[None]
    U = np.linalg.qr(np.random.default_rng(1).standard_normal((N, M)))[0].T[None]
    for K in (0, 3, 17, N):
        q = th.scheme_weights("threshold", p, K=K)
        err = sc.memory_errors(E, U, f, p, q[None, None])[0, 0]
        assert abs(err - p[K:][f[K:] != 0].sum()) < 1e-14


def test_unseen_mass_monte_carlo_and_the_scheme_run_agree_with_the_closed_form():
    mean, se = sc.unseen_mass_mc(2.0, 100, [10, 1024], trials=3000, seed=4)
    exact = th.unseen_mass(2.0, 100, [10, 1024])
    assert np.all(np.abs(mean - exact) <= 4 * se)
    r = sc.scheme_error_mc(["seen"], [64], [None, 300], alpha=2.0, N=200, M=5, trials=400, seed=1)
    assert r.unseen[0] == 0.0 and abs(r.unseen[1] - th.unseen_mass(2.0, 200, 300)) <= 4 * r.unseen_se[1]


def test_threshold_error_follows_the_chance_corrected_tail_when_d_is_large():
    """K = 4 ≪ d = 256: the K stored tokens are recalled; the tail is right with probability ≈ 1/M (§9.3)."""
    r = sc.scheme_error_mc([{"scheme": "threshold", "K": 4}], [256], [None], alpha=2.0, N=300, M=5, trials=200,
                           seed=3)
    want = th.threshold_error(2.0, 300, 4, 5)
    assert abs(r.error[0, 0, 0] - want) <= 4 * r.error_se[0, 0, 0] + 0.01 * want


def test_margin_table_is_the_theory_recursion():
    n = np.array([0, 1, 2, 5, 40, 999])
    for gamma, M in ((1.25e-3, 5), (0.7, 2), (3.0, 10)):
        t = sc.margin_table(999, gamma, M)
        np.testing.assert_allclose(t[n], th.margin_recursion(n, gamma, M), rtol=1e-13, atol=0)
        assert np.all(np.diff(t) > 0)


@pytest.mark.parametrize("bad,match", [
    (dict(schemes=["bogus"]), "scheme name"), (dict(schemes=[{"scheme": "threshold"}]), "K or K_per_d"),
    (dict(d=[0]), "d must"), (dict(T=[0.5]), "T must"), (dict(M=1), "M must"), (dict(inputs="cube"), "inputs"),
])
def test_bad_inputs_raise(bad, match):
    args = dict(schemes=["fill"], d=[4], T=[None], alpha=2.0, N=10, M=3, trials=2, seed=0, inputs="gaussian")
    args.update(bad)
    schemes, d, T = args.pop("schemes"), args.pop("d"), args.pop("T")
    with pytest.raises(ValueError, match=match):
        sc.scheme_error_mc(schemes, d, T, **args)


# --- torch optimisation models (§9.4) ------------------------------------------------------------------------------


class OfficialMatrix(torch.nn.Module):
    """The official ``AssMem`` forward, written out for one copy."""

    def __init__(self, E, W, UT, use_ln):
        super().__init__()
        self.E, self.UT, self.use_ln = E, UT, use_ln
        self.W = torch.nn.Parameter(W.clone())

    def forward(self, x):
        out = self.E[x] @ self.W
        if self.use_ln:
            out = out / torch.sqrt((out ** 2).sum(dim=1) + 1e-6).unsqueeze(1)
        return out @ self.UT


@pytest.mark.parametrize("optimizer,ln", [("SGD", False), ("Adam", True), ("Adam", False)])
def test_batched_matrix_model_equals_official_single_models_and_torch_adam(optimizer, ln):
    N, M, d, T, batch, lr = 30, 5, 7, 96, 16, 0.3
    seeds = [3, 8]
    model = MemoryModels("matrix", seeds, N, M, d, layernorm=ln, dtype=torch.float64)
    p = zipf(N, 2.0)
    X = sample_inputs(p, T, seeds)
    refs = []
    for c in range(len(seeds)):
        ref = OfficialMatrix(model.E[c].detach(), model.W[c].detach(), model.UT[c].detach(), ln)
        opt = (torch.optim.SGD(ref.parameters(), lr=lr) if optimizer == "SGD"
               else torch.optim.Adam(ref.parameters(), lr=lr / d, betas=(0.0, 0.0)))
        for t in range(T // batch):
            x = X[c, t * batch:(t + 1) * batch]
            loss = F.cross_entropy(ref(x), x % M)
            opt.zero_grad()
            loss.backward()
            opt.step()
        refs.append(ref.W.detach())
    train_one_pass(model, X, lr, batch, optimizer)
    for c, W in enumerate(refs):
        torch.testing.assert_close(model.W[c].detach(), W, rtol=1e-10, atol=1e-12)


def test_count_path_equals_the_per_sample_loss_and_gradient():
    N, M, d = 20, 4, 6
    for kind in ("matrix", "exponential", "learnable"):
        a = MemoryModels(kind, [1, 2], N, M, d, layernorm=True, dtype=torch.float64)
        b = MemoryModels(kind, [1, 2], N, M, d, layernorm=True, dtype=torch.float64)
        x = sample_inputs(zipf(N, 1.5), 50, [5, 6])
        counts = torch.stack([torch.bincount(row, minlength=N) for row in x])
        la = a.loss(x, x % M)
        lb = b.copy_losses_counts(counts).sum()
        la.backward()
        lb.backward()
        torch.testing.assert_close(la, lb, rtol=1e-12, atol=0)
        for pa, pb in zip(a.parameters(), b.parameters()):
            if pa.requires_grad:
                torch.testing.assert_close(pa.grad, pb.grad, rtol=1e-10, atol=1e-14)
    m = MemoryModels("matrix", [0], N, M, d, W_init="zero", dtype=torch.float64)
    err, rec, div = train_counts(m, counts[:1][None].repeat(3, 1, 1), 1.0, "SGD", checkpoints=[0, 2], p=zipf(N, 1.5))
    assert not div.any() and set(rec) == {0, 2} and torch.isfinite(err).all()


def test_layer_norm_and_learnable_flags():
    h = torch.tensor([[3.0, 4.0]])
    torch.testing.assert_close(layer_norm(h), h / math.sqrt(25 + 1e-6))
    for kind, learned in (("matrix", {"W"}), ("exponential", {"E", "UT"}), ("learnable", {"E", "W", "UT"})):
        m = MemoryModels(kind, [0], 10, 3, 4)
        assert {n for n, q in m.named_parameters() if q.requires_grad} == learned
    with pytest.raises(ValueError, match="kind"):
        MemoryModels("tensor", [0], 10, 3, 4)
    with pytest.raises(ValueError, match="multiple of batch"):
        train_one_pass(MemoryModels("matrix", [0], 10, 3, 4), torch.zeros(1, 10, dtype=torch.long), 1.0, 3, "SGD")
