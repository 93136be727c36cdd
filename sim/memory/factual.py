"""Synthetic factual-recall task of associative_memory.md §5 (official ``task.py``, class FactRecall), in numpy.

Facts: S subjects, R relations, answer sets 𝒜_r = {rD, …, (r + 1)D − 1} (disjoint, |𝒜| = RD);
a*(s, r) ∈ 𝒜_r uniform and independent per pair (random table) or ⌊sD/S⌋ + rD (structured table, §8).

Vocabulary [vocab = S + R + n_noise + 1]: subjects [0, S), relations [S, S + R), noise [S + R, S + R + n_noise),
EOS = S + R + n_noise. Answers are *global* answer indices in [0, RD) (a separate output vocabulary).

One sequence of length T: iid uniform noise everywhere; the subject at a uniform position in {0, …, T − 2};
EOS mode: the relation at a uniform position in {0, …, T − 2} other than the subject's and EOS at T − 1;
non-EOS mode: the relation at T − 1. Subjects and relations are drawn Zipf(α_s), Zipf(α_r) (α = 0: uniform,
the setting of every experiment). Sampling is per batch (no 2^24-sequence pre-sampling, §10).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory._validate import count
from theory.memory import structured_answer_table, zipf_probabilities

__all__ = [
    "FactRecall",
    "answer_marginal",
    "eos_token",
    "fact_table",
    "noise_range",
    "rank_probabilities",
    "sample_sequences",
    "sequence_invariants",
    "vocab_size",
]


def vocab_size(S, R, n_noise) -> int:
    """S + R + n_noise + 1: subjects, relations, noise tokens and EOS (§5)."""
    return count("S", S) + count("R", R) + count("n_noise", n_noise, minimum=0) + 1


def eos_token(S, R, n_noise) -> int:
    """The EOS token id S + R + n_noise (§5)."""
    return vocab_size(S, R, n_noise) - 1


def noise_range(S, R, n_noise) -> tuple[int, int]:
    """[lo, hi) of the noise token ids: [S + R, S + R + n_noise) (§5)."""
    S, R, n_noise = count("S", S), count("R", R), count("n_noise", n_noise, minimum=0)
    return S + R, S + R + n_noise


def fact_table(S, R, D, rng: np.random.Generator, structured: bool = False) -> np.ndarray:
    """The fact table a*(s, r) [S, R] int64, a*(s, r) ∈ [rD, (r + 1)D) (§5).

    Random: a*(s, r) = rD + U{0, …, D − 1} iid per pair (S·R·log2 D bits). Structured (§8): ⌊sD/S⌋ + rD; the
    random table is drawn first and then overwritten, as the official notebook does, so that ``rng`` advances
    identically in both modes.
    """
    S, R, D = count("S", S), count("R", R), count("D", D)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    table = rng.integers(0, D, size=(S, R), dtype=np.int64) + D * np.arange(R, dtype=np.int64)[None, :]
    if structured:
        table = np.asarray(structured_answer_table(S, R, D), dtype=np.int64)
    return table


def rank_probabilities(alpha, n) -> np.ndarray:
    """Zipf(α) over n items [n]: p(k) ∝ (k + 1)^{−α}, k = 0 … n − 1; α = 0 is uniform. alpha >= 0."""
    n = count("n", n)
    a = float(alpha)
    if not np.isfinite(a) or a < 0:
        raise ValueError(f"alpha must be finite and >= 0, got {alpha!r}")
    if a == 0.0:
        return np.full(n, 1.0 / n)
    return zipf_probabilities(a, n)


def _draw(rng: np.random.Generator, alpha: float, n: int, batch: int) -> np.ndarray:
    if alpha == 0.0:
        return rng.integers(0, n, size=batch, dtype=np.int64)
    return rng.choice(n, size=batch, p=rank_probabilities(alpha, n)).astype(np.int64)


def _check_table(table, D) -> tuple[np.ndarray, int, int, int]:
    D = count("D", D)
    tab = np.asarray(table)
    if tab.ndim != 2 or tab.size == 0 or not np.issubdtype(tab.dtype, np.integer):
        raise ValueError(f"table must be a non-empty integer array [S, R], got {tab.dtype} {tab.shape}")
    S, R = tab.shape
    lo = D * np.arange(R)[None, :]
    if np.any((tab < lo) | (tab >= lo + D)):
        raise ValueError("table entries must satisfy a*(s, r) ∈ [rD, (r + 1)D)")
    return tab.astype(np.int64, copy=False), S, R, D


def _check_layout(T, n_noise, eos: bool) -> tuple[int, int]:
    fixed = 3 if eos else 2  # subject, relation (and EOS) occupy distinct positions
    T = count("T", T, minimum=fixed)
    n_noise = count("n_noise", n_noise, minimum=0 if T == fixed else 1)
    return T, n_noise


def sample_sequences(table, D, T, n_noise, batch, rng: np.random.Generator, eos: bool = True,
                     alpha_s: float = 0.0, alpha_r: float = 0.0):
    """Draw ``batch`` fresh sequences of the §5 task.

    table: [S, R] fact table (``fact_table``); D: answers per relation; T: sequence length (>= 3 in EOS mode,
    >= 2 otherwise); n_noise: noise vocabulary (>= 1 unless every position is fixed); eos: EOS mode (relation
    at a random position, EOS last) or not (relation last); alpha_s, alpha_r >= 0: Zipf exponents.

    Returns (tokens [batch, T] int64, subjects [batch], relations [batch], answers [batch]) with subjects in
    [0, S), relations in [0, R) (indices, not token ids: the relation token is S + r) and answers the global
    answer indices a*(s, r) ∈ [0, RD).
    """
    tab, S, R, D = _check_table(table, D)
    T, n_noise = _check_layout(T, n_noise, eos)
    batch = count("batch", batch)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    for name, a in (("alpha_s", alpha_s), ("alpha_r", alpha_r)):
        if not np.isfinite(float(a)) or float(a) < 0:
            raise ValueError(f"{name} must be finite and >= 0, got {a!r}")
    subjects = _draw(rng, float(alpha_s), S, batch)
    relations = _draw(rng, float(alpha_r), R, batch)
    if n_noise:
        tokens = rng.integers(S + R, S + R + n_noise, size=(batch, T), dtype=np.int64)
    else:
        tokens = np.empty((batch, T), dtype=np.int64)
    rows = np.arange(batch)
    pos_s = rng.integers(0, T - 1, size=batch)
    tokens[rows, pos_s] = subjects
    if eos:
        # uniform over {0, …, T − 2} \ {pos_s}: draw from T − 2 slots and skip the subject's
        u = rng.integers(0, T - 2, size=batch)
        pos_r = u + (u >= pos_s)
        tokens[rows, pos_r] = S + relations
        tokens[:, T - 1] = S + R + n_noise
    else:
        tokens[:, T - 1] = S + relations
    return tokens, subjects, relations, tab[subjects, relations]


def answer_marginal(table, D, alpha_s: float = 0.0, alpha_r: float = 0.0) -> np.ndarray:
    """Exact marginal law of the answer a*(s, r) [RD] under Zipf(α_s) × Zipf(α_r) subjects and relations.

    Structured table with D | S and α = 0: exactly 1/(RD) for every answer (§8.2).
    """
    tab, S, R, D = _check_table(table, D)
    w = rank_probabilities(alpha_s, S)[:, None] * rank_probabilities(alpha_r, R)[None, :]
    return np.bincount(tab.ravel(), weights=w.ravel(), minlength=R * D)


def sequence_invariants(tokens, subjects, relations, answers, table, D, n_noise, eos: bool = True) -> dict:
    """Check the §5 layout of a sample exactly (claim F1); returns {invariant name: bool}.

    - ``shapes``: tokens [B, T] and the three label vectors [B], all integer;
    - ``one_subject``: each row holds exactly one subject token, equal to ``subjects``, at a position <= T − 2;
    - ``one_relation``: exactly one relation token, equal to S + ``relations``; EOS mode: at a position
      <= T − 2 different from the subject's; non-EOS mode: at T − 1;
    - ``eos_last``: EOS mode: exactly one EOS, at T − 1; non-EOS mode: no EOS;
    - ``noise_elsewhere``: every other position holds a noise token in [S + R, S + R + n_noise);
    - ``answers_in_set``: answers = table[s, r] ∈ [rD, (r + 1)D).
    """
    tab, S, R, D = _check_table(table, D)
    n_noise = count("n_noise", n_noise, minimum=0)
    tok = np.asarray(tokens)
    s, r, a = (np.asarray(x) for x in (subjects, relations, answers))
    res = {}
    res["shapes"] = bool(tok.ndim == 2 and all(x.shape == (tok.shape[0],) for x in (s, r, a))
                         and all(np.issubdtype(x.dtype, np.integer) for x in (tok, s, r, a)))
    if not res["shapes"]:
        return dict.fromkeys(("shapes", "one_subject", "one_relation", "eos_last", "noise_elsewhere",
                              "answers_in_set"), False)
    B, T = tok.shape
    eos_id = S + R + n_noise
    is_subj = tok < S
    is_rel = (tok >= S) & (tok < S + R)
    is_eos = tok == eos_id
    is_noise = (tok >= S + R) & (tok < eos_id)
    rows = np.arange(B)
    subj_pos = np.argmax(is_subj, axis=1)
    rel_pos = np.argmax(is_rel, axis=1)
    res["one_subject"] = bool(np.all(is_subj.sum(1) == 1) and np.all(subj_pos <= T - 2)
                              and np.all(tok[rows, subj_pos] == s) and np.all((s >= 0) & (s < S)))
    rel_ok = np.all(is_rel.sum(1) == 1) and np.all(tok[rows, rel_pos] == S + r) and np.all((r >= 0) & (r < R))
    if eos:
        rel_ok = rel_ok and np.all(rel_pos <= T - 2) and np.all(rel_pos != subj_pos)
        res["eos_last"] = bool(np.all(is_eos.sum(1) == 1) and np.all(is_eos[:, T - 1]))
    else:
        rel_ok = rel_ok and np.all(rel_pos == T - 1)
        res["eos_last"] = bool(not np.any(is_eos))
    res["one_relation"] = bool(rel_ok)
    res["noise_elsewhere"] = bool(np.all(is_subj | is_rel | is_eos | is_noise)
                                  and np.all(is_noise.sum(1) == T - (3 if eos else 2)))
    in_range = bool(np.all((s >= 0) & (s < S) & (r >= 0) & (r < R)))
    res["answers_in_set"] = bool(in_range and np.all(a == tab[np.clip(s, 0, S - 1), np.clip(r, 0, R - 1)])
                                 and np.all((a >= r * D) & (a < (r + 1) * D)))
    return res


@dataclass(frozen=True)
class FactRecall:
    """One §5 task instance: sizes, layout and its fact table; ``sample(batch, rng)`` draws fresh sequences.

    Build with :meth:`FactRecall.make`; n_noise defaults to S + R (official ``run.py``).
    """

    S: int
    R: int
    D: int
    T: int
    n_noise: int
    eos: bool
    table: np.ndarray
    alpha_s: float = 0.0
    alpha_r: float = 0.0

    @classmethod
    def make(cls, S, R, D, rng: np.random.Generator, T: int = 32, n_noise: int | None = None, eos: bool = True,
             structured: bool = False, alpha_s: float = 0.0, alpha_r: float = 0.0) -> FactRecall:
        n_noise = count("S", S) + count("R", R) if n_noise is None else n_noise
        T, n_noise = _check_layout(T, n_noise, eos)
        table = fact_table(S, R, D, rng, structured=structured)
        return cls(int(S), int(R), int(D), T, n_noise, bool(eos), table, float(alpha_s), float(alpha_r))

    @property
    def vocab(self) -> int:
        return vocab_size(self.S, self.R, self.n_noise)

    @property
    def eos_id(self) -> int:
        return eos_token(self.S, self.R, self.n_noise)

    @property
    def n_answers(self) -> int:
        return self.R * self.D

    @property
    def facts(self) -> int:
        return self.S * self.R

    def sample(self, batch, rng: np.random.Generator):
        """(tokens [batch, T], subjects, relations, answers), as :func:`sample_sequences`."""
        return sample_sequences(self.table, self.D, self.T, self.n_noise, batch, rng, eos=self.eos,
                                alpha_s=self.alpha_s, alpha_r=self.alpha_r)
