"""Multi-query associative recall (MQAR) data, Zoology-faithful (test_time_memory.md §5.1–§5.4).

One example (vocab V, length L, N pairs, one pass):

    inputs  k_1 v_1 k_2 v_2 … k_N v_N | query region of length L − 2N: key k_j at offset 2·g_j, fillers elsewhere
    labels  −100 everywhere except at the query of k_j, whose target is v_j (the value is never shown again)

Keys are N distinct tokens of {1, …, ⌊V/2⌋ − 1}, values N distinct tokens of {⌊V/2⌋, …, V − 1}, token 0 is the
filler; gaps g_j are N distinct offsets of {0, …, space − 1}, space = (L − 2N)/2, drawn with weights
p(g) ∝ a·(g + 1)^{a−1} (a = ``power_a`` = 0.01 ≈ 1/(g + 1)) without replacement, sequentially renormalised.

Two random-number modes (§5.1):

- ``"faithful"``: the official generator's draw order on a legacy ``numpy.random.RandomState(seed)``: keys of every
  example (``choice(..., replace=False)``), then values, then gaps; bit-exact with Zoology's ``multiquery_ar``
  for everything but the fillers. Fillers (``random_non_queries=True``) come from a ``torch.Generator`` seeded
  with the segment seed, drawn the official way (one ``randint(V)`` over the whole input, kept where the input is
  0), instead of the unseeded global torch RNG (§5.4).
- ``"modern"``: one ``numpy.random.default_rng(seed)`` for keys, values, gaps and fillers.

:func:`segment_seeds` draws the per-segment seeds as the official data config does (train seeds in [0, 2³¹),
test seeds in [2³¹, 2³²), never shared). :class:`MQARLoader` serves batches on a device, each batch from one
segment (lengths differ), shuffled within and across segments every epoch (§5.4). :func:`check_segment` tests
the invariants of §9 row 29; :func:`gap_chi2` compares the first-drawn gaps with p(g).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import torch

from theory._validate import count

IGNORE = -100
MODES = ("faithful", "modern")
MAX_SEED = 2**32


@dataclass(frozen=True)
class SegmentSpec:
    """What determines one data segment: vocab V, examples, L, N, passes, filler policy, gap power, RNG mode
    and seed."""

    vocab_size: int
    num_examples: int
    input_seq_len: int
    num_kv_pairs: int
    seed: int
    num_passes: int = 1
    random_non_queries: bool = True
    power_a: float = 0.01
    mode: str = "faithful"

    def __post_init__(self):
        V = count("vocab_size", self.vocab_size, minimum=4)
        count("num_examples", self.num_examples)
        L = count("input_seq_len", self.input_seq_len, minimum=2)
        N = count("num_kv_pairs", self.num_kv_pairs)
        P = count("num_passes", self.num_passes)
        count("seed", self.seed, minimum=0)
        if self.seed >= MAX_SEED:
            raise ValueError(f"seed must be < 2**32, got {self.seed}")
        if L % 2:
            raise ValueError(f"input_seq_len must be even, got {L}")
        if V <= L:
            raise ValueError(f"vocab_size must exceed input_seq_len ({L}), got {V}")
        if 2 * N * P + 2 * N > L:
            raise ValueError(f"num_kv_pairs must satisfy 2·N·num_passes + 2·N <= input_seq_len ({L}), got N = {N}, "
                             f"num_passes = {P}")
        if N > V // 2 - 1 or N > V - V // 2:
            raise ValueError(f"num_kv_pairs must be <= {min(V // 2 - 1, V - V // 2)} (distinct keys and values of V = "
                             f"{V}), got {N}")
        a = float(self.power_a)
        if not (math.isfinite(a) and a > 0):
            raise ValueError(f"power_a must be a finite number > 0, got {self.power_a!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not isinstance(self.random_non_queries, (bool, np.bool_)):
            raise ValueError(f"random_non_queries must be True or False, got {self.random_non_queries!r}")

    @property
    def context(self) -> int:
        """Context length c = 2·N·num_passes."""
        return 2 * self.num_kv_pairs * self.num_passes

    @property
    def space(self) -> int:
        """Number of possible query offsets (L − c)/2."""
        return (self.input_seq_len - self.context) // 2


@dataclass(frozen=True)
class Segment:
    """inputs, labels [n, L] int64 (numpy); keys, values, gaps [n, N] int64 (gaps in draw order: gap j is the
    offset of the query of key j)."""

    spec: SegmentSpec
    inputs: np.ndarray
    labels: np.ndarray
    keys: np.ndarray
    values: np.ndarray
    gaps: np.ndarray
    slices: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def digest(self) -> str:
        """sha256 of the inputs and labels (content hash of the data, for records and caches)."""
        h = hashlib.sha256()
        for a in (self.inputs, self.labels):
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
        return h.hexdigest()[:16]


def gap_distribution(space, power_a=0.01) -> np.ndarray:
    """p(g) = a·(g + 1)^{a−1} / Σ, g = 0..space−1 [space] (§5.1 step 3)."""
    space = count("space", space)
    a = float(power_a)
    if not (math.isfinite(a) and a > 0):
        raise ValueError(f"power_a must be a finite number > 0, got {power_a!r}")
    p = a * np.arange(1, space + 1) ** (a - 1)
    return p / p.sum()


def segment_seeds(seed, n_train, n_test) -> tuple[list[int], list[int]]:
    """Per-segment seeds of the official data config: legacy ``RandomState(seed)``, train seeds uniform in
    [0, 2³¹), then test seeds in [2³¹, 2³²)."""
    rs = np.random.RandomState(count("seed", seed, minimum=0))
    train = rs.randint(0, MAX_SEED // 2, size=count("n_train", n_train, minimum=0))
    test = rs.randint(MAX_SEED // 2, MAX_SEED, size=count("n_test", n_test, minimum=0))
    return [int(s) for s in train], [int(s) for s in test]


def _draw_faithful(spec: SegmentSpec):
    n, N, V = spec.num_examples, spec.num_kv_pairs, spec.vocab_size
    rs = np.random.RandomState(spec.seed)
    key_choices = np.arange(1, V // 2)
    value_choices = np.arange(V // 2, V)
    # one pass over the examples per quantity, the official call order (np.apply_along_axis over rows)
    keys = np.stack([rs.choice(key_choices, replace=False, size=N) for _ in range(n)])
    values = np.stack([rs.choice(value_choices, replace=False, size=N) for _ in range(n)])
    p = gap_distribution(spec.space, spec.power_a)
    x = np.arange(spec.space, dtype=int)
    gaps = np.stack([rs.choice(x, replace=False, p=p, size=N) for _ in range(n)])
    return keys.astype(np.int64), values.astype(np.int64), gaps.astype(np.int64)


def _draw_modern(spec: SegmentSpec, rng: np.random.Generator):
    n, N, V = spec.num_examples, spec.num_kv_pairs, spec.vocab_size
    keys = np.stack([rng.choice(V // 2 - 1, size=N, replace=False) for _ in range(n)]) + 1
    values = np.stack([rng.choice(V - V // 2, size=N, replace=False) for _ in range(n)]) + V // 2
    # successive weighted sampling without replacement = order of the keys u^{1/p} (Efraimidis–Spirakis),
    # vectorised over examples; same distribution of the ordered gap tuple as sequential renormalisation
    p = gap_distribution(spec.space, spec.power_a)
    u = rng.random((n, spec.space))
    score = np.log(u) / p
    gaps = np.argsort(-score, axis=1, kind="stable")[:, :N]
    return keys.astype(np.int64), values.astype(np.int64), gaps.astype(np.int64)


def _assemble(spec: SegmentSpec, keys, values, gaps):
    n, N, L, c = spec.num_examples, spec.num_kv_pairs, spec.input_seq_len, spec.context
    kvs = np.zeros((n, 2 * N), dtype=np.int64)
    kvs[:, 0::2] = keys
    kvs[:, 1::2] = values
    kvs = np.tile(kvs, (1, spec.num_passes))
    queries = np.zeros((n, L - c + 1), dtype=np.int64)
    np.put_along_axis(queries, gaps * 2, keys, axis=1)
    examples = np.concatenate([kvs, queries], axis=1)
    labels = np.full((n, L + 1), IGNORE, dtype=np.int64)
    np.put_along_axis(labels, gaps * 2 + c + 1, values, axis=1)
    return examples[:, :-1].copy(), labels[:, 1:].copy()


def multiquery_ar(vocab_size, num_examples, input_seq_len, seed, power_a=0.01, num_kv_pairs=8, num_passes=1,
                  random_non_queries=True, mode="faithful") -> Segment:
    """One MQAR data segment (§5.1); arguments as the official ``multiquery_ar`` plus ``mode`` ("faithful" or
    "modern", see the module docstring). Raises ValueError unless L is even, V > L and 2N·num_passes + 2N <= L.

    Returns a :class:`Segment` (inputs, labels [num_examples, L]; keys, values, gaps [num_examples, N]).
    """
    spec = SegmentSpec(vocab_size, num_examples, input_seq_len, num_kv_pairs, seed, num_passes,
                       bool(random_non_queries), float(power_a), mode)
    return build_segment(spec)


def build_segment(spec: SegmentSpec) -> Segment:
    """Generate the segment described by ``spec`` (see :func:`multiquery_ar`)."""
    if spec.mode == "faithful":
        keys, values, gaps = _draw_faithful(spec)
        rng = None
    else:
        rng = np.random.default_rng(spec.seed)
        keys, values, gaps = _draw_modern(spec, rng)
    inputs, labels = _assemble(spec, keys, values, gaps)
    if spec.random_non_queries:
        zero = inputs == 0
        if rng is None:
            gen = torch.Generator().manual_seed(spec.seed)
            fill = torch.randint(spec.vocab_size, size=inputs.shape, generator=gen).numpy()
        else:
            fill = rng.integers(0, spec.vocab_size, size=inputs.shape)
        inputs[zero] = fill[zero]
    slices = {"num_kv_pairs": spec.num_kv_pairs, "input_seq_len": spec.input_seq_len,
              "num_passes": spec.num_passes}
    return Segment(spec, inputs, labels, keys, values, gaps, slices)


@lru_cache(maxsize=16)
def cached_segment(spec: SegmentSpec) -> Segment:
    """:func:`build_segment` memoised per process (the runs of a sweep share their data)."""
    return build_segment(spec)


# ================================================================================================================
# invariants (§9 row 29)


def check_segment(seg: Segment) -> dict:
    """Invariants of one segment, each a bool (True = holds) with counts of violations:

    n_labels (N labels per example), label_is_paired_value, key_range, value_range, unique_keys, unique_values,
    each_key_once (every context key queried exactly once, nothing else queried), even_offsets (queries at even
    offsets of the query region), all_slots (L = 4N only: queries at every even offset), zero_fillers
    (random_non_queries=False only: every other input is 0), context_layout (k_1 v_1 … tiled num_passes times).
    """
    spec = seg.spec
    X, Y = seg.inputs, seg.labels
    n, L = X.shape
    N, V, c = spec.num_kv_pairs, spec.vocab_size, spec.context
    out = {"shape": X.shape == (spec.num_examples, L) and Y.shape == X.shape and L == spec.input_seq_len}
    ctx_keys, ctx_vals = X[:, 0:2 * N:2], X[:, 1:2 * N:2]
    lab = Y != IGNORE
    out["n_labels"] = bool(np.all(lab.sum(1) == N))
    out["context_layout"] = bool(np.all(np.tile(X[:, :2 * N], (1, spec.num_passes)) == X[:, :c])
                                 and np.all(~lab[:, :c]))
    out["key_range"] = bool(np.all((ctx_keys >= 1) & (ctx_keys <= V // 2 - 1)))
    out["value_range"] = bool(np.all((ctx_vals >= V // 2) & (ctx_vals <= V - 1)))
    out["unique_keys"] = bool(np.all(np.diff(np.sort(ctx_keys, 1), axis=1) > 0))
    out["unique_values"] = bool(np.all(np.diff(np.sort(ctx_vals, 1), axis=1) > 0))
    rows, pos = np.nonzero(lab)
    queried = X[rows, pos]
    # value paired with each queried key: position of the key in the context
    match = ctx_keys[rows] == queried[:, None]
    found = match.sum(1) == 1
    j = match.argmax(1)
    out["label_is_paired_value"] = bool(np.all(found) and np.all(Y[rows, pos] == ctx_vals[rows, j]))
    q_sorted = np.sort(queried.reshape(n, N), 1) if out["n_labels"] else None
    out["each_key_once"] = bool(q_sorted is not None and np.array_equal(q_sorted, np.sort(ctx_keys, 1)))
    off = pos - c
    out["even_offsets"] = bool(np.all(off >= 0) and np.all(off % 2 == 0))
    if L == 4 * N and spec.num_passes == 1:
        expect = np.tile(c + 2 * np.arange(N), n)
        out["all_slots"] = bool(np.array_equal(np.sort(pos.reshape(n, N), 1).ravel(), expect))
    if not spec.random_non_queries:
        mask = np.ones_like(X, dtype=bool)
        mask[:, :c] = False
        mask[rows, pos] = False
        out["zero_fillers"] = bool(np.all(X[mask] == 0))
    else:
        out["fillers_in_vocab"] = bool(np.all((X >= 0) & (X < V)))
    # the stored gaps are the query offsets of keys 1..N in order
    off_by_key = np.full((n, N), -1)
    if out["label_is_paired_value"]:
        off_by_key[rows, j] = off // 2
    out["gaps_match_queries"] = bool(np.array_equal(off_by_key, seg.gaps))
    out["all"] = all(out.values())
    return out


def gap_chi2(seg: Segment, min_expected=5.0) -> dict:
    """χ² test of the first-drawn gap of every example (distributed exactly as p(g)) against p(g).

    Tail bins are merged until every bin expects >= ``min_expected`` counts. Returns observed and expected
    histograms over g = 0..space−1 (unmerged), the χ² statistic, degrees of freedom and p-value. The remaining
    gaps follow the sequentially renormalised weights and are histogrammed in ``all_gaps`` (reported, not tested).
    """
    from scipy.stats import chi2

    spec = seg.spec
    p = gap_distribution(spec.space, spec.power_a)
    n = len(seg)
    obs = np.bincount(seg.gaps[:, 0], minlength=spec.space).astype(float)
    exp = n * p
    # merge from the tail (smallest p) into groups with enough expected counts
    groups, cur_o, cur_e = [], 0.0, 0.0
    for g in range(spec.space - 1, -1, -1):
        cur_o += obs[g]
        cur_e += exp[g]
        if cur_e >= min_expected:
            groups.append((cur_o, cur_e))
            cur_o, cur_e = 0.0, 0.0
    if cur_e > 0:
        if groups:
            o, e = groups.pop()
            groups.append((o + cur_o, e + cur_e))
        else:
            groups.append((cur_o, cur_e))
    o = np.array([g[0] for g in groups])
    e = np.array([g[1] for g in groups])
    dof = len(groups) - 1
    stat = float(np.sum((o - e) ** 2 / e))
    pval = float(chi2.sf(stat, dof)) if dof > 0 else 1.0
    all_gaps = np.bincount(seg.gaps.ravel(), minlength=spec.space)
    return {"observed": obs, "expected": exp, "chi2": stat, "dof": dof, "p_value": pval, "bins": len(groups),
            "all_gaps": all_gaps, "p": p}


# ================================================================================================================
# loader


class MQARLoader:
    """Batches of one or more segments on ``device``; each batch comes from a single segment.

    ``shuffle=True`` (training): every epoch permutes the examples of each segment and the order of all batches
    across segments, from a generator seeded by (seed, epoch), so epochs differ and a run is reproducible.
    ``shuffle=False`` (evaluation): segment by segment, in order. The last batch of a segment may be smaller.
    Iterating ``loader.epoch(e)`` yields (inputs [b, L] int64, labels [b, L] int64, segment index).
    """

    def __init__(self, segments, batch_size, shuffle=True, seed=0, device="cpu"):
        self.segments = list(segments)
        if not self.segments or not all(isinstance(s, Segment) for s in self.segments):
            raise ValueError("segments must be a non-empty list of Segment")
        self.batch_size = count("batch_size", batch_size)
        self.shuffle = bool(shuffle)
        self.seed = count("seed", seed, minimum=0)
        self.device = torch.device(device)
        self._x = [torch.as_tensor(s.inputs, device=self.device) for s in self.segments]
        self._y = [torch.as_tensor(s.labels, device=self.device) for s in self.segments]

    def __len__(self) -> int:
        return sum(math.ceil(len(s) / self.batch_size) for s in self.segments)

    def plan(self, epoch=0) -> list[tuple[int, np.ndarray]]:
        """The epoch's batches as (segment index, example indices)."""
        epoch = count("epoch", epoch, minimum=0)
        rng = np.random.default_rng((self.seed, epoch)) if self.shuffle else None
        batches = []
        for i, s in enumerate(self.segments):
            idx = rng.permutation(len(s)) if rng is not None else np.arange(len(s))
            batches += [(i, idx[a:a + self.batch_size]) for a in range(0, len(s), self.batch_size)]
        if rng is not None:
            batches = [batches[j] for j in rng.permutation(len(batches))]
        return batches

    def epoch(self, epoch=0):
        for i, idx in self.plan(epoch):
            ix = torch.as_tensor(idx, device=self.device)
            yield self._x[i][ix], self._y[i][ix], i
