"""Shared parametrisation of the trainable memory layers of the ``recall`` topic (test_time_memory.md §1, §4.6).

Every layer maps x [B, T, d_model] to y [B, T, d_model] through per-head features

    q = L2(SiLU(ShortConv(W_q x))),  k = L2(SiLU(ShortConv(W_k x))),  v = W_v x          (fla, §4.6)
    β = σ(W_b x + b_b)   or softplus(·) where a rule needs β > 0 unbounded (Longhorn)      [B, H, T]
    log γ = logsigmoid(W_a x + b_a)                                (MesaNet, §4.6)       [B, H, T]
          or −exp(A_log)·softplus(W_a x + dt_bias)                  (Mamba2 / fla GDN, §3)

a token mixer ``mix`` (the memory rule, one per subclass) giving o [B, H, T, d_v], a per-head RMSNorm of o
(computed in at least float32, §4.6) and an output projection. Subclasses implement ``mix`` and, where the state
is not one d_v × d_k matrix per head, ``state_size`` (§5.5).

Everything runs on the device and in the dtype of the parameters: ``layer.to(device)``, ``layer.double()``.
"""

from __future__ import annotations

import abc
import math

import torch
import torch.nn.functional as F
from torch import nn

from theory._validate import count

L2_EPS = 1e-6  # fla ``l2norm``: x / sqrt(Σx² + 1e-6)
RMS_EPS = 1e-5
GATE_STYLES = ("sigmoid", "mamba2")
BETA_ACTIVATIONS = ("sigmoid", "softplus")


def l2norm(x: torch.Tensor, eps: float = L2_EPS) -> torch.Tensor:
    """x / sqrt(Σ_c x_c² + eps) over the last axis (the in-kernel normalisation of q, k in fla)."""
    return x * torch.rsqrt((x * x).sum(-1, keepdim=True) + eps)


class ShortConv(nn.Module):
    """Causal depthwise convolution over time, kernel ``kernel`` (fla ``ShortConvolution`` without bias).

    y_t[c] = Σ_{s=0..kernel−1} w[c, s] x_{t−kernel+1+s}[c] with x_{<0} = 0, so token t sees tokens t−kernel+1..t
    only. Input and output [B, T, channels].
    """

    def __init__(self, channels: int, kernel: int = 4):
        super().__init__()
        self.channels = count("channels", channels)
        self.kernel = count("kernel", kernel)
        self.conv = nn.Conv1d(self.channels, self.channels, self.kernel, groups=self.channels, bias=False,
                              padding=self.kernel - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3 or x.shape[-1] != self.channels:
            raise ValueError(f"x must be [B, T, {self.channels}], got {tuple(x.shape)}")
        T = x.shape[1]
        # symmetric padding of kernel−1 on both sides; the first T outputs are the causal ones
        return self.conv(x.transpose(1, 2))[..., :T].transpose(1, 2)


class HeadRMSNorm(nn.Module):
    """RMSNorm over the last axis with one weight vector [d] shared by all heads, computed in >= float32."""

    def __init__(self, d: int, eps: float = RMS_EPS):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        work = torch.promote_types(x.dtype, torch.float32)
        xf = x.to(work)
        y = xf * torch.rsqrt((xf * xf).mean(-1, keepdim=True) + self.eps)
        return (y * self.weight.to(work)).to(x.dtype)


def _inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    return y + torch.log(-torch.expm1(-y))


class MemoryLayer(nn.Module, abc.ABC):
    """Projections, gates and read-out shared by every memory layer; the rule lives in ``mix``.

    Parameters
    ----------
    d_model : model width (>= 1).
    heads : number of heads H (>= 1).
    d_k, d_v : per-head key and value widths; default d_model // heads (then d_model must divide by heads).
    conv : short-convolution kernel on q and k (>= 1), or 0 for none (SiLU is applied either way, as in fla).
    output_norm : per-head RMSNorm on o before the output projection.

    Class attributes a subclass may override: ``gate_style`` ("sigmoid": log γ = logsigmoid(W_a x + b),
    "mamba2": log γ = −exp(A_log) softplus(W_a x + dt_bias)), ``beta_activation`` ("sigmoid" or "softplus"),
    ``use_beta`` / ``use_gamma`` (whether the rule reads β / log γ: an unused gate gets no projection and no key
    in ``features``), ``qk_activation`` (apply SiLU to q, k) and ``qk_norm`` (L2-normalise q, k).
    """

    gate_style = "sigmoid"
    beta_activation = "sigmoid"
    use_beta = True
    use_gamma = True
    qk_activation = True
    qk_norm = True

    def __init__(self, d_model, heads=1, d_k=None, d_v=None, conv=4, output_norm=True):
        super().__init__()
        self.d_model = count("d_model", d_model)
        self.heads = count("heads", heads)
        if (d_k is None or d_v is None) and self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by heads ({self.heads}) unless d_k and "
                             "d_v are both given")
        self.d_k = self.d_model // self.heads if d_k is None else count("d_k", d_k)
        self.d_v = self.d_model // self.heads if d_v is None else count("d_v", d_v)
        self.conv = count("conv", conv, minimum=0)
        self.output_norm = bool(output_norm)
        if self.gate_style not in GATE_STYLES:
            raise ValueError(f"gate_style must be one of {GATE_STYLES}, got {self.gate_style!r}")
        if self.beta_activation not in BETA_ACTIVATIONS:
            raise ValueError(f"beta_activation must be one of {BETA_ACTIVATIONS}, got {self.beta_activation!r}")
        H, dk, dv = self.heads, self.d_k, self.d_v
        self.q_proj = nn.Linear(self.d_model, H * dk, bias=False)
        self.k_proj = nn.Linear(self.d_model, H * dk, bias=False)
        self.v_proj = nn.Linear(self.d_model, H * dv, bias=False)
        self.q_conv = ShortConv(H * dk, self.conv) if self.conv else None
        self.k_conv = ShortConv(H * dk, self.conv) if self.conv else None
        self.b_proj = nn.Linear(self.d_model, H, bias=True) if self.use_beta else None
        self.a_proj = nn.Linear(self.d_model, H, bias=True) if self.use_gamma else None
        self._init_gates()
        self.o_norm = HeadRMSNorm(dv) if self.output_norm else None
        self.o_proj = nn.Linear(H * dv, self.d_model, bias=False)

    def _init_gates(self):
        """β starts at σ(0) = ½ (softplus: ln 2); the decay starts close to 1, spread over heads."""
        H = self.heads
        with torch.no_grad():
            if self.b_proj is not None:
                self.b_proj.bias.zero_()
            if self.a_proj is None:
                return
            if self.gate_style == "mamba2":
                # fla GDN / Mamba2: A ~ U(1, 16), Δ log-uniform in [1e-3, 1e-1], dt_bias = softplus⁻¹(Δ)
                self.A_log = nn.Parameter(torch.log(torch.empty(H).uniform_(1.0, 16.0)))
                dt = torch.exp(torch.empty(H).uniform_(math.log(1e-3), math.log(1e-1))).clamp_min(1e-4)
                self.dt_bias = nn.Parameter(_inverse_softplus(dt))
                self.a_proj.bias.zero_()
            else:
                # γ = 1 − 10^{−u}, u evenly spaced in [1, 3] over heads (γ ∈ [0.9, 0.999]); one head: γ = 0.99
                u = torch.linspace(1.0, 3.0, H) if H > 1 else torch.tensor([2.0])
                one_minus = 10.0 ** (-u)
                self.a_proj.bias.copy_(torch.log1p(-one_minus) - torch.log(one_minus))

    # ------------------------------------------------------------------------------------------------------------

    def _heads(self, x: torch.Tensor, d: int) -> torch.Tensor:
        B, T, _ = x.shape
        return x.view(B, T, self.heads, d).transpose(1, 2)

    def _qk(self, x: torch.Tensor, proj: nn.Linear, conv) -> torch.Tensor:
        y = proj(x)
        if conv is not None:
            y = conv(y)
        if self.qk_activation:
            y = F.silu(y)
        y = self._heads(y, self.d_k)
        return l2norm(y) if self.qk_norm else y

    def head_gate(self, proj: nn.Linear, x: torch.Tensor) -> torch.Tensor:
        """Pre-activation of a per-head gate: proj(x) [B, T, H] -> [B, H, T]."""
        return proj(x).transpose(1, 2)

    def features(self, x: torch.Tensor) -> dict:
        """q, k [B, H, T, d_k] (L2-normalised), v [B, H, T, d_v], beta and log_gamma [B, H, T] (§4.6); a gate
        the layer does not use (``use_beta``, ``use_gamma``) is left out. Subclasses add their own gates."""
        self.check_input(x)
        feats = {"q": self._qk(x, self.q_proj, self.q_conv), "k": self._qk(x, self.k_proj, self.k_conv),
                 "v": self._heads(self.v_proj(x), self.d_v)}
        if self.b_proj is not None:
            b = self.head_gate(self.b_proj, x)
            feats["beta"] = torch.sigmoid(b) if self.beta_activation == "sigmoid" else F.softplus(b)
        if self.a_proj is not None:
            a = self.head_gate(self.a_proj, x)
            if self.gate_style == "mamba2":
                feats["log_gamma"] = -torch.exp(self.A_log)[:, None] * F.softplus(a + self.dt_bias[:, None])
            else:
                feats["log_gamma"] = F.logsigmoid(a)
        return feats

    @abc.abstractmethod
    def mix(self, feats: dict) -> torch.Tensor:
        """The memory rule: features of ``features`` -> o [B, H, T, d_v] (o_t read after the write of token t)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, d_model] -> y [B, T, d_model]."""
        o = self.mix(self.features(x))
        if self.o_norm is not None:
            o = self.o_norm(o)
        B, H, T, dv = o.shape
        return self.o_proj(o.transpose(1, 2).reshape(B, T, H * dv))

    def check_input(self, x):
        if not isinstance(x, torch.Tensor) or x.ndim != 3 or x.shape[-1] != self.d_model:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be a tensor [B, T, d_model] with d_model = {self.d_model}, got {shape}")
        if x.shape[1] < 1:
            raise ValueError("x must hold T >= 1 tokens")

    def state_size(self, seq_len=None) -> int:
        """Recurrent state size in numbers (§5.5): one d_v × d_k matrix per head, heads·d_k·d_v.

        ``seq_len`` matters only for layers whose state grows with the sequence (softmax attention's KV cache);
        recurrent layers ignore it.
        """
        return self.heads * self.d_k * self.d_v
