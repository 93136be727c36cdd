"""verify/ icl topic: data generators (§2) and models (§3) — invariants and exact equalities (claim #7)."""

import math

import numpy as np
import pytest
import torch

from theory.icl import covariance
from verify.models.linear_attention import AttnM, AttnS
from verify.models.mlp import CubicMLP, attn_m_to_mlp
from verify.models.softmax_attention import SoftmaxAttnM, SoftmaxAttnS
from verify.tasks import icl
from verify.train import mse

F32_EPS = float(np.finfo(np.float32).eps)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP spin-waiting on a shared, oversubscribed CPU."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def rel(a, b):
    """‖a − b‖ / ‖b‖ (norm-wise, so near-zero single predictions cannot inflate it)."""
    a, b = (torch.as_tensor(t).detach().to(torch.float64) for t in (a, b))
    return float((a - b).norm() / b.norm())


def perturb_all(model, scale, seed):
    """Give every parameter (a_i, u_i, b_{i,r} included) a nonzero value so identities are tested in general."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=torch.float64).to(p) * scale)
    return model


# ------------------------------------------------------------------------------------------------------
# data (§2)
# ------------------------------------------------------------------------------------------------------


def test_covariance_presets():
    D = 5
    assert np.array_equal(covariance("paper-white", D), np.eye(D))
    assert np.allclose(covariance("code-white", D), np.eye(D) / D, rtol=0, atol=1e-15)
    L0 = covariance("code-default", D, seed=0)
    L1 = covariance("code-default", D, seed=1)
    assert np.allclose(L0, L0.T, atol=1e-15)
    assert abs(np.trace(L0) - 1.0) < 1e-14
    assert np.allclose(np.sort(np.linalg.eigvalsh(L0))[::-1], np.arange(D, 0, -1) / 15.0, atol=1e-14)
    assert np.abs(L0 - L1).max() > 1e-3  # a new rotation per seed
    assert np.array_equal(L0, covariance("code-default", D, seed=0))
    D4 = covariance("code-default", 4, seed=10)
    assert np.allclose(np.sort(np.linalg.eigvalsh(D4)), [0.1, 0.2, 0.3, 0.4], atol=1e-14)
    with pytest.raises(ValueError, match="preset"):
        covariance("white", D)
    with pytest.raises(ValueError, match="D"):
        covariance("paper-white", 0)


@pytest.mark.parametrize("sampler", ["paper", "official"])
def test_sample_regression_layout(sampler):
    P, N, D = 64, 7, 3
    Lam = covariance("code-default", D, seed=2)
    d = icl.sample_regression(P, N, D, Lam, seed=3, sampler=sampler)
    tok, y, w = d["tokens"], d["y"], d["w"]
    assert tok.shape == (P, N + 1, D + 1) and y.shape == (P,) and w.shape == (P, D)
    assert tok.dtype == y.dtype == torch.float32 and tok.device.type == "cpu"
    assert torch.all(tok[:, N, D] == 0)  # query label zeroed
    x = tok[..., :D].double()
    labels = torch.einsum("pnd,pd->pn", x, w.double())
    assert torch.allclose(tok[:, :N, D].double(), labels[:, :N], rtol=0, atol=8 * F32_EPS * labels.abs().max())
    assert torch.allclose(y.double(), labels[:, N], rtol=0, atol=8 * F32_EPS * labels.abs().max())
    d2 = icl.sample_regression(P, N, D, Lam, seed=3, sampler=sampler)
    assert torch.equal(d2["tokens"], tok) and torch.equal(d2["y"], y)


def test_paper_sampler_covariance_within_se():
    P, N, D = 2000, 4, 3
    Lam = covariance("code-default", D, seed=4)
    x = icl.sample_regression(P, N, D, Lam, seed=5)["tokens"][..., :D].reshape(-1, D).double().numpy()
    n = x.shape[0]
    C = x.T @ x / n
    se = np.sqrt((np.outer(np.diag(Lam), np.diag(Lam)) + Lam**2) / n)  # SE of a Gaussian second moment
    assert np.all(np.abs(C - Lam) < 5 * se)


def test_official_sampler_centering_and_whitening():
    P, N, D = 500, 6, 4
    Lam = covariance("code-default", D, seed=6)
    d = icl.sample_regression(P, N, D, Lam, seed=7, sampler="official")
    x = d["tokens"][..., :D].double()
    # centred per position over the P sequences, to float32 round-off of the centring
    assert x.mean(0).abs().max() < 4 * F32_EPS * x.abs().max()
    w = d["w"].double()
    assert w.mean(0).abs().max() < 1e-6
    cov = (w - w.mean(0)).T @ (w - w.mean(0)) / (P - 1)
    assert torch.allclose(cov, torch.eye(D, dtype=torch.float64), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="P must be >= D"):
        icl.sample_regression(D, N, D, Lam, sampler="official")
    with pytest.raises(ValueError, match="sampler"):
        icl.sample_regression(P, N, D, Lam, sampler="iid")
    with pytest.raises(ValueError, match="Lam"):
        icl.sample_regression(P, N, D, np.eye(D + 1))


def test_w_fix_norm():
    for D in (1, 4, 9):
        w = icl.make_w_fix(D, seed=D)
        assert w.shape == (D,) and abs(np.linalg.norm(w) - math.sqrt(D)) < 1e-12
    assert np.array_equal(icl.make_w_fix(4, seed=1), icl.make_w_fix(4, seed=1))


def test_icl_iwl_constructions():
    P, N, D = 400, 8, 4
    Lam = covariance("code-white", D)
    w_fix = icl.make_w_fix(D, seed=0)
    wf = torch.tensor(w_fix)

    # c = 0: noise context labels independent of x; query target from w_fix
    d0 = icl.sample_icl_iwl(P, N, D, Lam, 0.0, w_fix, seed=1)
    x0, yc = d0["tokens"][:, :N, :D].double(), d0["tokens"][:, :N, D].double()
    n = P * N
    corr = (x0 * yc[..., None]).reshape(n, D).mean(0) / x0.reshape(n, D).std(0)
    assert corr.abs().max() < 4.5 / math.sqrt(n)  # uncorrelated (unit-variance labels), 4.5 SE
    assert abs(float(yc.var()) - 1.0) < 4.5 * math.sqrt(2.0 / n)
    xq = d0["tokens"][:, N, :D].double()
    assert torch.allclose(d0["y"].double(), xq @ wf, atol=1e-6)
    assert not d0["in_context"].any()

    # c = 1: whitened task vectors, context labels from them
    d1 = icl.sample_icl_iwl(P, N, D, Lam, 1.0, w_fix, seed=2)
    w1 = d1["w"].double()
    cov = (w1 - w1.mean(0)).T @ (w1 - w1.mean(0)) / (P - 1)
    assert torch.allclose(cov, torch.eye(D, dtype=torch.float64), atol=1e-5)
    lab = torch.einsum("pnd,pd->pn", d1["tokens"][:, :N, :D].double(), w1)
    assert torch.allclose(d1["tokens"][:, :N, D].double(), lab, atol=1e-5)

    # 0 < c < 1: the first ⌊cP⌋ sequences random w, the rest w_fix in context and query
    c = 0.37
    k = math.floor(c * P)
    dc = icl.sample_icl_iwl(P, N, D, Lam, c, w_fix, seed=3)
    wc = dc["w"].double()
    assert torch.allclose(wc[k:], wf.expand(P - k, D), atol=1e-6)
    assert (wc[:k] - wf).norm(dim=1).min() > 1e-3
    lab = torch.einsum("pnd,pd->pn", dc["tokens"][:, :, :D].double(), wc)
    assert torch.allclose(dc["tokens"][:, :N, D].double(), lab[:, :N], atol=1e-5)
    assert torch.allclose(dc["y"].double(), lab[:, N], atol=1e-5)
    assert dc["in_context"].all()
    assert dc["random_w"][:k].all() and not dc["random_w"][k:].any()
    assert d1["random_w"].all() and not d0["random_w"].any()

    # test sets are the c = 0 and c = 1 constructions
    assert torch.equal(icl.iw_test(P, N, D, Lam, w_fix, seed=9)["tokens"], icl.sample_icl_iwl(
        P, N, D, Lam, 0.0, w_fix, seed=9)["tokens"])
    assert torch.equal(icl.ic_test(P, N, D, Lam, w_fix, seed=9)["y"], icl.sample_icl_iwl(
        P, N, D, Lam, 1.0, w_fix, seed=9)["y"])
    with pytest.raises(ValueError, match="c must be"):
        icl.sample_icl_iwl(P, N, D, Lam, 1.5, w_fix)
    with pytest.raises(ValueError, match="w_fix"):
        icl.sample_icl_iwl(P, N, D, Lam, 0.5, w_fix[:2])


def test_context_gram_includes_query():
    P, N, D = 5, 6, 3
    d = icl.sample_regression(P, N, D, np.eye(D), seed=0)
    tok = d["tokens"].double()
    S = icl.context_gram(tok)
    for p in range(P):
        X = tok[p].T  # [(D+1), (N+1)], tokens as columns (Eq. 1)
        assert torch.allclose(S[p], X @ X.T, atol=1e-12)
    x, y = tok[:, :N, :D], tok[:, :N, D]
    assert torch.allclose(S[:, :D, D], torch.einsum("pn,pnd->pd", y, x), atol=1e-12)
    xx = torch.einsum("pnd,pne->pde", tok[..., :D], tok[..., :D])  # query included
    assert torch.allclose(S[:, :D, :D], xx, atol=1e-12)


# ------------------------------------------------------------------------------------------------------
# linear attention: faithful forward == Gram fast path (claim #7)
# ------------------------------------------------------------------------------------------------------


def _data(P=40, N=9, D=3, seed=0):
    Lam = covariance("code-default", D, seed=seed)
    return icl.sample_regression(P, N, D, Lam, seed=seed)


MODELS = [
    ("M", dict(H=1)),
    ("M", dict(H=5)),
    ("S", dict(H=1, R=1)),
    ("S", dict(H=5, R=1)),
    ("S", dict(H=1, R=3)),
    ("S", dict(H=5, R=3)),
]


def _make(kind, D, normalize_by_N, varying_length=False, **kw):
    if kind == "M":
        return AttnM(D, kw["H"], 0.5, normalize_by_N, varying_length=varying_length, seed=11)
    return AttnS(D, kw["H"], kw["R"], 0.5, "paper", normalize_by_N, varying_length=varying_length, seed=11)


@pytest.mark.parametrize("normalize_by_N", [True, False])
@pytest.mark.parametrize("kind,kw", MODELS)
def test_gram_path_equals_faithful_forward(kind, kw, normalize_by_N):
    D, N = 3, 9
    d = _data(N=N, D=D)
    m = perturb_all(_make(kind, D, normalize_by_N, **kw), 0.3, seed=1)
    tok = d["tokens"]
    fast = m.predict_gram(icl.context_gram(tok), icl.query_token(tok), N)
    assert rel(fast, m(tok)) < 1e-5
    m64, tok64 = m.double(), tok.double()
    fast64 = m64.predict_gram(icl.context_gram(tok64), icl.query_token(tok64), N)
    assert rel(fast64, m64(tok64)) < 1e-10


@pytest.mark.parametrize("normalize_by_N", [True, False])
@pytest.mark.parametrize("kind,kw", [MODELS[1], MODELS[5], MODELS[2]])
def test_varying_length_prefix_path(kind, kw, normalize_by_N):
    D, N = 3, 9
    d = _data(N=N, D=D)
    m = perturb_all(_make(kind, D, normalize_by_N, varying_length=True, **kw), 0.3, seed=2).double()
    tok, y = d["tokens"].double(), d["y"].double()
    pre = icl.prefix_grams(tok, y)
    slow, target = m.predict_prefixes(tok, y)
    fast = m.predict_prefixes_gram(pre["S"], pre["xq"])
    assert slow.shape == fast.shape == (tok.shape[0], N)
    assert rel(fast, slow) < 1e-10
    assert torch.equal(target, pre["target"])
    assert torch.equal(target[:, :-1], tok[:, 1:N, D]) and torch.equal(target[:, -1], y)
    # the last prefix is the whole sequence; its divisor is N (paper) or N+1 (official code)
    assert rel(slow[:, -1], m(tok)) < 1e-12
    fixed = _make(kind, D, normalize_by_N, **kw).double()
    fixed.load_state_dict(m.state_dict())
    factor = 1.0 if normalize_by_N else 1.0 / (N + 1)
    assert rel(m(tok), factor * fixed(tok)) < 1e-12
    # float32 check of the same identity
    m32, pre32 = m.float(), icl.prefix_grams(d["tokens"], d["y"])
    assert rel(m32.predict_prefixes_gram(pre32["S"], pre32["xq"]), m32.predict_prefixes(d["tokens"], d["y"])[0]) < 1e-5


@pytest.mark.parametrize("normalize_by_N,varying", [(True, False), (False, False), (False, True)])
@pytest.mark.parametrize("kind,kw", [MODELS[1], MODELS[5]])
def test_moment_loss_equals_gram_loss(kind, kw, normalize_by_N, varying):
    D, N = 3, 9
    d = _data(P=60, N=N, D=D)
    m = perturb_all(_make(kind, D, normalize_by_N, varying_length=varying, **kw), 0.3, seed=3).double()
    tok, y = d["tokens"].double(), d["y"].double()
    S, xq = icl.context_gram(tok), icl.query_token(tok)
    mom = m.gram_moments(S, xq, y, N, chunk_size=17)  # chunking exercised
    direct = mse(m.predict_gram(S, xq, N), y)
    quad = m.loss_moments(mom)
    assert abs(quad.item() / direct.item() - 1.0) < 1e-11
    g1 = torch.autograd.grad(direct, list(m.parameters()))
    g2 = torch.autograd.grad(quad, list(m.parameters()))
    for a, b in zip(g1, g2):
        assert float((a - b).norm()) <= 1e-9 * max(1.0, float(a.norm()))
    pre = icl.prefix_grams(tok, y)
    pm = m.prefix_moments(pre, chunk_size=100)
    pd_loss = mse(m.predict_prefixes_gram(pre["S"], pre["xq"]), pre["target"])
    assert abs(m.loss_moments(pm).item() / pd_loss.item() - 1.0) < 1e-11
    other = _make(kind, D, not normalize_by_N, **kw).double()
    with pytest.raises(ValueError, match="mom was built"):
        other.loss_moments(mom)


@pytest.mark.parametrize("normalize_by_N", [True, False])
def test_effective_matrix(normalize_by_N):
    D, N = 3, 9
    d = _data(N=N, D=D)
    tok = d["tokens"].double()
    x, y, xq = tok[:, :N, :D], tok[:, :N, D], tok[:, N, :D]
    beta = torch.einsum("pn,pnd->pd", y, x) / N
    for m in (AttnM(D, 4, 0.5, normalize_by_N, seed=0), AttnS(D, 4, 2, 0.5, "paper", normalize_by_N, seed=0)):
        m = m.double()
        M = m.effective_matrix(N)
        assert rel(torch.einsum("pd,de,pe->p", beta, M, xq), m(tok)) < 1e-12


@torch.no_grad()
def test_inits():
    D, H, R, init = 4, 200, 4, 0.02
    m = AttnM(D, H, init, seed=0)
    assert torch.all(m.value[:, :D] == 0) and torch.all(m.W_KQ[:, D, :D] == 0)
    # every other entry N(0, init²): sample std within 5 SE (SE of a std ≈ σ/√(2n))
    free = torch.cat([m.W_KQ[:, :D, :].reshape(-1), m.W_KQ[:, D, D:].reshape(-1), m.value[:, D]])
    assert abs(float(free.std()) / init - 1) < 5 / math.sqrt(2 * free.numel())
    for scheme, kq_std, v_std in [
        ("paper", init / math.sqrt(R * (D + 1)), init),
        ("dec2025", init / math.sqrt(H * R * (D + 1)), init / math.sqrt(H * (D + 1) ** 2)),
    ]:
        s = AttnS(D, H, R, init, scheme, seed=1)
        assert torch.all(s.W_K[:, :, D] == 0) and torch.all(s.value[:, :D] == 0)
        k, q = s.W_K[:, :, :D].reshape(-1), s.W_Q.reshape(-1)
        assert abs(float(k.std()) / kq_std - 1) < 5 / math.sqrt(2 * k.numel())
        assert abs(float(q.std()) / kq_std - 1) < 5 / math.sqrt(2 * q.numel())
        assert abs(float(s.value[:, D].std()) / v_std - 1) < 5 / math.sqrt(2 * H)
        assert s.keys().shape == s.queries().shape == (H, R, D) and s.head_values().shape == (H,)
    assert torch.equal(AttnS(D, 3, 2, 0.1, seed=5).W_Q, AttnS(D, 3, 2, 0.1, seed=5).W_Q)
    with pytest.raises(ValueError, match="init_scheme"):
        AttnS(D, 3, 2, 0.1, "xavier")
    with pytest.raises(ValueError, match="init"):
        AttnM(D, 3, -1.0)


def test_aligned_balanced_init():
    D, H, w_init = 4, 8, 1e-3
    m = AttnM(D, H, 0.1, seed=0).double().aligned_balanced_init(w_init)
    v, U = m.head_values(), m.U()
    assert abs(float(v.norm()) - w_init) < 1e-18
    assert torch.allclose(U.flatten(1).norm(dim=1), v.abs(), rtol=1e-14, atol=0)
    assert torch.allclose(m.effective_matrix(31), w_init**2 * torch.eye(D, dtype=torch.float64) / math.sqrt(D),
                          rtol=1e-13, atol=0)
    assert torch.all(m.value[:, :D] == 0) and torch.all(m.W_KQ[:, D, :] == 0) and torch.all(m.W_KQ[:, :, D] == 0)


def test_initial_loss_is_trace_lambda():
    # at tiny init ŷ ≈ 0, so the loss is mean(y_q²): mean tr Λ, variance 3((trΛ)² + 2trΛ²) − (trΛ)²
    P, N, D = 4000, 15, 4
    Lam = covariance("code-default", D, seed=1)
    d = icl.sample_regression(P, N, D, Lam, seed=1)
    tr, tr2 = np.trace(Lam), np.trace(Lam @ Lam)
    se = math.sqrt((3 * (tr**2 + 2 * tr2) - tr**2) / P)
    for m in (AttnM(D, 8, 1e-4, seed=0), AttnS(D, 5, 1, 1e-4, seed=0)):
        L0 = mse(m(d["tokens"]), d["y"]).item()
        assert abs(L0 - tr) < 4 * se


# ------------------------------------------------------------------------------------------------------
# MLP on cubic features (§3.3) and softmax attention (§3.4)
# ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("normalize_by_N", [True, False])
def test_cubic_features_and_mapping(normalize_by_N):
    D, N = 3, 9
    d = _data(N=N, D=D)
    tok = d["tokens"].double()
    mlp = CubicMLP(D, 4, 0.3, normalize_by_N, seed=0).double()
    z = mlp.features(tok)
    beta = torch.einsum("pn,pnd->pd", tok[:, :N, D], tok[:, :N, :D]) / (N if normalize_by_N else 1)
    xq = tok[:, N, :D]
    assert torch.allclose(z, torch.stack([torch.kron(a, b) for a, b in zip(xq, beta)]), atol=1e-14)
    assert torch.allclose(mlp.features_gram(icl.context_gram(tok), icl.query_token(tok), N), z, atol=1e-12)
    # column-major vec: vec(U)ᵀ z = βᵀ U x_q
    U = torch.randn(D, D, dtype=torch.float64)
    assert torch.allclose(z @ U.T.reshape(-1), torch.einsum("pd,de,pe->p", beta, U, xq), atol=1e-12)

    attn = AttnM(D, 4, 0.3, normalize_by_N, seed=1).double()
    mapped = attn_m_to_mlp(attn)
    assert rel(mapped(tok), attn(tok)) < 1e-12
    assert torch.allclose(mapped.effective_matrix(N), attn.effective_matrix(N), rtol=1e-12, atol=0)
    with torch.no_grad():
        attn.value[0, 0] = 0.1
    with pytest.raises(ValueError, match="a_i = 0"):
        attn_m_to_mlp(attn)


def _softmax_loop(model, tok):
    """ŷ_q per sequence from ATTN(X) = X + Σ_h W^V_h X smax(Xᵀ W^KQ_h X), softmax over keys (matrix form)."""
    out = []
    for p in range(tok.shape[0]):
        X = tok[p].T  # [(D+1), (N+1)]
        y_row = X[-1].clone()
        for h in range(model.H):
            W = model.kq()[h] if hasattr(model, "kq") else model.key_weights()[h].T @ model.W_Q[h]
            A = torch.softmax(X.T @ W @ X, dim=0)  # column j: weights of the keys i for query j
            y_row = y_row + model.value_row()[h] @ X @ A
        out.append(y_row[-1])
    return torch.stack(out)


@pytest.mark.parametrize("model", [SoftmaxAttnM(3, 4, 0.7, seed=0), SoftmaxAttnS(3, 4, 2, 2.0, seed=0)],
                         ids=["M", "S"])
def test_softmax_forward_matches_loop(model):
    d = _data(P=12, N=7, D=3)
    m = perturb_all(model, 0.5, seed=4).double()
    tok = d["tokens"].double()
    ref = _softmax_loop(m, tok)
    assert rel(m(tok), ref) < 1e-12
    assert rel(m.predict_query(tok), ref) < 1e-12
    assert rel(m.float()(d["tokens"]), ref) < 1e-5


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fast_paths_on_cuda():
    D, N = 4, 31
    Lam = covariance("code-default", D, seed=0)
    d = icl.sample_regression(500, N, D, Lam, seed=0, sampler="official", device="cuda")
    tok, y = d["tokens"], d["y"]
    assert tok.device.type == "cuda"
    S, xq = icl.context_gram(tok), icl.query_token(tok)
    for m in (AttnM(D, 8, 0.3, False, seed=0), AttnS(D, 5, 2, 0.5, "paper", False, seed=0)):
        m = perturb_all(m, 0.2, seed=5)
        cpu = m(tok.cpu())
        m = m.cuda()
        assert rel(m(tok).cpu(), cpu) < 1e-5
        assert rel(m.predict_gram(S, xq, N).cpu(), cpu) < 1e-5
        mom = m.gram_moments(S, xq, y, N)
        assert abs(m.loss_moments(mom).item() / mse(m.predict_gram(S, xq, N), y).item() - 1) < 1e-5


def test_mlp_moment_loss_equals_faithful_loss_and_gradients():
    """The MLP shares the attention models' dataset-moment path: same loss and gradients as its forward."""
    D, N, P = 3, 7, 64
    Lam = covariance("code-default", D, seed=3)
    data = icl.sample_regression(P, N, D, Lam, seed=5, sampler="official")
    tokens, y = data["tokens"].double(), data["y"].double()
    for norm in (True, False):
        m = CubicMLP(D, 4, 0.7, normalize_by_N=norm, seed=1).double()
        mom = m.gram_moments(icl.context_gram(tokens), icl.query_token(tokens), y, N, chunk_size=17)
        direct = mse(m(tokens), y)
        quad = m.loss_moments(mom)
        g1 = torch.autograd.grad(direct, list(m.parameters()))
        g2 = torch.autograd.grad(quad, list(m.parameters()))
        assert abs(quad.item() / direct.item() - 1) < 1e-11
        assert max(float((a - b).abs().max()) for a, b in zip(g1, g2)) < 1e-11
