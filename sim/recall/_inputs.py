"""Validation and packing of the inputs shared by the recurrences (test_time_memory.md §3, §4).

Every public function takes q, k [..., T, d_k], v [..., T, d_v] with the same leading (batch) dimensions and
per-token gates that broadcast to [..., T]. The packers return C-contiguous float64 arrays flattened to one batch
axis B (the kernels' layout) together with the leading shape needed to restore the caller's one.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Sequences(NamedTuple):
    """q, k [B, T, d_k], v [B, T, d_v] (float64, C order) and the caller's leading shape ``lead``."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    lead: tuple
    T: int
    d_k: int
    d_v: int

    @property
    def B(self) -> int:
        return self.q.shape[0]


def _array(name, x):
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of real numbers, got {type(x).__name__}") from None
    return a


def writable(a):
    """A C-contiguous, writable float64 array (a copy only if needed): read-only views such as broadcasts would
    make numba compile a second specialisation of every kernel."""
    return np.require(a, dtype=np.float64, requirements=("C", "W"))


def finite_array(name, x, ndim_min=0):
    a = _array(name, x)
    if a.ndim < ndim_min:
        raise ValueError(f"{name} must have at least {ndim_min} dimensions, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} must be finite")
    return a


def sequences(q, k, v) -> Sequences:
    """Check q, k [..., T, d_k] and v [..., T, d_v] (T, d_k, d_v >= 1, finite, same leading dims)."""
    q = finite_array("q", q, 2)
    k = finite_array("k", k, 2)
    v = finite_array("v", v, 2)
    if k.shape != q.shape:
        raise ValueError(f"k must have the shape of q [..., T, d_k] = {q.shape}, got {k.shape}")
    if v.shape[:-1] != q.shape[:-1]:
        raise ValueError(f"v must have shape [..., T, d_v] with [..., T] = {q.shape[:-1]}, got {v.shape}")
    T, d_k, d_v = q.shape[-2], q.shape[-1], v.shape[-1]
    for name, n in (("T (q.shape[-2])", T), ("d_k (q.shape[-1])", d_k), ("d_v (v.shape[-1])", d_v)):
        if n < 1:
            raise ValueError(f"{name} must be >= 1, got {n}")
    lead = q.shape[:-2]
    B = int(np.prod(lead, dtype=np.int64))

    def flat(a, d):
        return writable(a.reshape(B, T, d))

    return Sequences(flat(q, d_k), flat(k, d_k), flat(v, d_v), lead, T, d_k, d_v)


def _range_text(lo, hi):
    if hi is None:
        return f">= {lo:g}"
    return f"in [{lo:g}, {hi:g}]"


def in_range(name, a, lo, hi=None, *, lo_open=False, allow_inf=False):
    """Raise unless every entry of ``a`` lies in [lo, hi] (or (lo, hi] with lo_open; +inf with allow_inf)."""
    if allow_inf:
        ok = ~np.isnan(a) & (a != -np.inf)
    else:
        ok = np.isfinite(a)
    ok &= (a > lo) if lo_open else (a >= lo)
    if hi is not None:
        ok &= a <= hi
    if not np.all(ok):
        text = (f"> {lo:g}" if hi is None else f"in ({lo:g}, {hi:g}]") if lo_open else _range_text(lo, hi)
        if allow_inf:
            text += " (inf allowed)"
        bad = a[~ok].ravel()[0]
        raise ValueError(f"{name} must be {text}, got {bad!r}")
    return a


def gate(name, x, seq: Sequences, lo, hi=None, *, lo_open=False, allow_inf=False):
    """A per-token gate broadcast to [..., T] and flattened to [B, T] after its range check."""
    a = _array(name, x)
    try:
        a = np.broadcast_to(a, seq.lead + (seq.T,))
    except ValueError:
        raise ValueError(f"{name} must broadcast to [..., T] = {seq.lead + (seq.T,)}, got shape {a.shape}") from None
    in_range(name, a, lo, hi, lo_open=lo_open, allow_inf=allow_inf)
    return writable(a.reshape(seq.B, seq.T))


def channel_gate(name, x, seq: Sequences, lo, hi):
    """A per-token, per-key-channel gate broadcast to [..., T, d_k] and flattened to [B, T, d_k]."""
    a = _array(name, x)
    shape = seq.lead + (seq.T, seq.d_k)
    if a.ndim >= 1 and a.shape[-1] not in (1, seq.d_k):
        raise ValueError(f"{name} must broadcast to [..., T, d_k] = {shape}, got shape {a.shape}")
    try:
        a = np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(f"{name} must broadcast to [..., T, d_k] = {shape}, got shape {a.shape}") from None
    in_range(name, a, lo, hi)
    return writable(a.reshape(seq.B, seq.T, seq.d_k))


def state(name, x, seq: Sequences, shape, *, positive=False):
    """An initial state broadcast to [..., *shape] and flattened to [B, *shape] (a fresh, writable copy)."""
    a = finite_array(name, x)
    full = seq.lead + tuple(shape)
    try:
        a = np.broadcast_to(a, full)
    except ValueError:
        raise ValueError(f"{name} must broadcast to {full}, got shape {a.shape}") from None
    if positive and np.any(a <= 0):
        raise ValueError(f"{name} must be > 0 entry-wise")
    return np.array(a.reshape((seq.B,) + tuple(shape)), dtype=np.float64, order="C")


def key_vector(name, x, seq: Sequences, lo=0.0):
    """A per-key-channel parameter (scalar, [d_k] or [..., d_k]) flattened to [B, d_k], entries >= lo."""
    a = _array(name, x)
    shape = seq.lead + (seq.d_k,)
    if a.ndim >= 1 and a.shape[-1] not in (1, seq.d_k):
        raise ValueError(f"{name} must be a scalar or broadcast to [..., d_k] = {shape}, got shape {a.shape}")
    try:
        a = np.broadcast_to(a, shape)
    except ValueError:
        raise ValueError(f"{name} must be a scalar or broadcast to [..., d_k] = {shape}, got shape {a.shape}") \
            from None
    in_range(name, a, lo)
    return writable(a.reshape(seq.B, seq.d_k))


def positive_scalar(name, x, *, allow_zero=False):
    try:
        a = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number {'>=' if allow_zero else '>'} 0, got {x!r}") from None
    if not np.isfinite(a) or a < 0 or (a == 0 and not allow_zero):
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, got {x!r}")
    return a


def integer(name, n, minimum=1):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {n!r}")
    return int(n)


def choice(name, value, options):
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def restore(a, lead, tail):
    """[B, *tail] -> [*lead, *tail]."""
    return a.reshape(tuple(lead) + tuple(tail))
