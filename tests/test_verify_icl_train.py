"""verify/ icl topic: the GD trainer, ATTN_M ≡ MLP(z) under GD (claim #6), the paper ↔ official-code unit
mapping (claim #8, §1.2) and device selection."""

import math

import numpy as np
import pytest
import torch

from theory.icl import covariance
from verify.device import resolve_device, set_threads
from verify.models.linear_attention import AttnM, AttnS
from verify.models.mlp import CubicMLP, attn_m_to_mlp
from verify.tasks import icl
from verify.train import TrainResult, fresh_batch_loss, mse, train


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny tensors: one intra-op thread avoids OpenMP spin-waiting on a shared, oversubscribed CPU."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


class Scalar(torch.nn.Module):
    def __init__(self, w0):
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(float(w0), dtype=torch.float64))


def quad_loss(m):
    return (m.w - 1.0) ** 2


# ------------------------------------------------------------------------------------------------------
# trainer
# ------------------------------------------------------------------------------------------------------


def test_train_records_loss_before_update():
    w0, lr, steps = 3.0, 0.1, 23
    seen = []
    res = train(Scalar(w0), quad_loss, steps, lr, record_every=5,
                callbacks=[lambda t, m: {"w": m.w, "t": t}, lambda t, m: seen.append(t) or {}])
    assert isinstance(res, TrainResult) and not res.diverged and res.n_updates == steps
    assert list(res.steps) == [0, 5, 10, 15, 20, 22]
    # GD on (w−1)²: w_t = 1 + (w0 − 1)(1 − 2 lr)^t; the record at t holds w_t, i.e. before update t
    w_t = 1.0 + (w0 - 1.0) * (1.0 - 2 * lr) ** res.steps.astype(float)
    assert np.allclose(res.records["w"], w_t, rtol=1e-13, atol=0)
    assert np.allclose(res.loss, (w_t - 1.0) ** 2, rtol=1e-12, atol=0)
    assert res.records["t"] == list(res.steps) and seen == list(res.steps)
    assert res.wall_s >= 0.0 and res.lr == lr


def test_train_flags_divergence_without_raising():
    m = Scalar(3.0)
    res = train(m, quad_loss, 500, 50.0)  # |1 − 2 lr| = 99: overflows to inf within a few hundred steps
    assert res.diverged
    assert not math.isfinite(res.loss[-1]) and np.all(np.isfinite(res.loss[:-1]))
    assert res.n_updates == res.steps[-1] < 499
    assert list(res.steps) == list(range(res.n_updates + 1))


def test_train_validates_arguments():
    with pytest.raises(ValueError, match="lr"):
        train(Scalar(0.0), quad_loss, 3, 0.0)
    with pytest.raises(ValueError, match="steps"):
        train(Scalar(0.0), quad_loss, 0, 0.1)
    with pytest.raises(ValueError, match="record_every"):
        train(Scalar(0.0), quad_loss, 3, 0.1, record_every=0)
    with pytest.raises(ValueError, match="CUDA device"):
        train(Scalar(0.0), quad_loss, 3, 0.1, cuda_graph=True)  # CPU parameters


def test_online_mode_is_fresh_and_reproducible():
    D, N = 3, 5
    Lam = covariance("paper-white", D)

    def run():
        draw = icl.regression_stream(N, D, Lam, seed=4)
        batches = []

        def sampler(batch):
            tokens, y = draw(batch)
            batches.append(tokens)
            return tokens, y

        m = AttnM(D, 2, 0.3, seed=0)
        return train(m, fresh_batch_loss(sampler, 32), 6, 0.05), batches

    r1, b1 = run()
    r2, b2 = run()
    assert len(b1) == 6  # one draw per step: the recorded loss is the one differentiated
    assert not torch.equal(b1[0], b1[1])
    assert np.array_equal(r1.loss, r2.loss) and all(torch.equal(a, b) for a, b in zip(b1, b2))


# ------------------------------------------------------------------------------------------------------
# claim #6: ATTN_M and its MLP(z) follow identical GD trajectories
# ------------------------------------------------------------------------------------------------------


def _fixed_data(P=256, N=15, D=3, seed=0):
    Lam = covariance("code-default", D, seed=seed)
    return icl.sample_regression(P, N, D, Lam, seed=seed, sampler="official")


@pytest.mark.parametrize("normalize_by_N,init,lr", [(True, 0.6, 0.5), (False, 0.15, 0.02)])
def test_attn_m_and_mlp_identical_loss_curves(normalize_by_N, init, lr):
    D, N, H, steps = 3, 15, 4, 50
    d = _fixed_data(N=N, D=D)
    tok, y = d["tokens"], d["y"]
    attn = AttnM(D, H, init, normalize_by_N, freeze_zero_init=True, seed=1)
    mlp = attn_m_to_mlp(attn)
    ra = train(attn, lambda m: mse(m(tok), y), steps, lr)
    rm = train(mlp, lambda m: mse(m(tok), y), steps, lr)
    assert not ra.diverged and not rm.diverged
    assert ra.loss[-1] < 0.8 * ra.loss[0]  # the weights move: the comparison is not trivially equal
    assert np.max(np.abs(rm.loss / ra.loss - 1.0)) < 1e-5
    # a_i and u_i stayed exactly 0, so the trained attention still maps onto the trained MLP
    again = attn_m_to_mlp(attn)
    assert torch.allclose(again.W1, mlp.W1, rtol=1e-4, atol=1e-6 * float(mlp.W1.detach().abs().max()))


def test_gram_and_moment_paths_train_identically():
    D, N, H, steps = 3, 15, 4, 50
    d = _fixed_data(N=N, D=D)
    tok, y = d["tokens"], d["y"]
    S, xq = icl.context_gram(tok), icl.query_token(tok)
    curves = []
    for path in ("faithful", "gram", "moments"):
        m = AttnS(D, H, 2, 0.3, normalize_by_N=False, seed=2)
        if path == "faithful":
            res = train(m, lambda m: mse(m(tok), y), steps, 0.01)
        elif path == "gram":
            res = train(m, lambda m: mse(m.predict_gram(S, xq, N), y), steps, 0.01)
        else:
            mom = m.gram_moments(S, xq, y, N)
            res = train(m, lambda m: m.loss_moments(mom), steps, 0.01)
        curves.append(res.loss)
    assert curves[0][-1] < 0.8 * curves[0][0]
    for c in curves[1:]:
        assert np.max(np.abs(c / curves[0] - 1.0)) < 1e-5


# ------------------------------------------------------------------------------------------------------
# claim #8: official-code units (no 1/N) ≡ paper units with rescaled weights and learning rate (§1.2)
# ------------------------------------------------------------------------------------------------------


def _rescaled(model_code, model_paper, factor):
    with torch.no_grad():
        for pc, pp in zip(model_code.parameters(), model_paper.parameters()):
            pp.copy_(pc * factor)
    return model_paper


@pytest.mark.parametrize("family", ["M", "S", "MLP"])
def test_unit_mapping_code_equals_paper(family):
    D, N, H, steps, lr_code = 3, 15, 4, 50, 0.02
    d = _fixed_data(N=N, D=D)
    tok, y = d["tokens"], d["y"]
    if family == "M":
        code, paper, power = AttnM(D, H, 0.15, False, seed=3), AttnM(D, H, 0.0, True), 0.5
    elif family == "S":
        code, paper, power = AttnS(D, H, 2, 0.3, "paper", False, seed=3), AttnS(D, H, 2, 0.0, "paper", True), 1 / 3
    else:
        code, paper, power = CubicMLP(D, H, 0.15, False, seed=3), CubicMLP(D, H, 0.0, True), 0.5
    paper = _rescaled(code, paper, N**power)  # W_paper = N^{1/2} W_code (ATTN_S: N^{1/3})
    lr_paper = lr_code * N ** (2 * power)  # η_paper = N η_code (ATTN_S: N^{2/3} η_code)
    rc = train(code, lambda m: mse(m(tok), y), steps, lr_code)
    rp = train(paper, lambda m: mse(m(tok), y), steps, lr_paper)
    assert not rc.diverged and rc.loss[-1] < 0.8 * rc.loss[0]
    assert np.max(np.abs(rp.loss / rc.loss - 1.0)) < 1e-5
    # the weights stay mapped, so both report the same paper-scale effective matrix M
    assert torch.allclose(paper.effective_matrix(N), code.effective_matrix(N), rtol=1e-4,
                          atol=1e-5 * float(code.effective_matrix(N).abs().max()))


# ------------------------------------------------------------------------------------------------------
# devices
# ------------------------------------------------------------------------------------------------------


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    previous = set_threads(1)
    assert torch.get_num_threads() == 1
    set_threads(previous)
    with pytest.raises(ValueError, match="threads"):
        set_threads(0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_graph_training_matches_eager():
    D, N, H, steps = 3, 15, 4, 300
    d = _fixed_data(N=N, D=D)
    tok, y = d["tokens"].cuda(), d["y"].cuda()
    S, xq = icl.context_gram(tok), icl.query_token(tok)
    runs = []
    for graphed in (False, True):
        m = AttnS(D, H, 2, 0.3, "paper", False, seed=2).cuda()
        mom = m.gram_moments(S, xq, y, N)
        res = train(m, lambda m: m.loss_moments(mom), steps, 0.01, record_every=7, cuda_graph=graphed,
                    callbacks=[lambda t, m: {"v": m.head_values()}])
        runs.append((res, m))
    (re, me), (rg, mg) = runs
    assert not rg.diverged and rg.n_updates == steps and list(rg.steps) == list(re.steps)
    assert re.loss[-1] < 0.8 * re.loss[0]
    assert np.max(np.abs(rg.loss / re.loss - 1.0)) < 1e-6
    assert np.allclose(np.stack(rg.records["v"]), np.stack(re.records["v"]), rtol=1e-5, atol=1e-7)
    for a, b in zip(mg.parameters(), me.parameters()):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)
    # divergence: flagged, records end at the first non-finite loss, no exception
    m = AttnS(D, H, 2, 0.3, "paper", False, seed=2).cuda()
    rd = train(m, lambda m: mse(m.predict_gram(S, xq, N), y), 2000, 50.0, record_every=100, cuda_graph=True)
    assert rd.diverged and not math.isfinite(rd.loss[-1]) and np.all(np.isfinite(rd.loss[:-1]))
    assert rd.steps[-1] == rd.n_updates < 2000
