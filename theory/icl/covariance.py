"""Token covariance presets Λ (icl_linear_attention.md §1.2, §2.2, §10 pitfall 3).

- "paper-white": Λ = I (tr Λ = D), the paper's white case;
- "code-white": Λ = I/D (tr Λ = 1), the official code's "white" option;
- "code-default": eigenvalues ∝ D, …, 1 normalized to trace 1 ({0.4, 0.3, 0.2, 0.1} for D = 4), rotated by a
  random orthogonal matrix (QR of a Gaussian matrix) drawn with ``numpy.random.default_rng(seed)``, a new
  rotation per seed as in the official code; ``seed=None`` gives the unrotated diagonal matrix.
"""

from __future__ import annotations

import numpy as np

from theory._validate import count

PRESETS = ("paper-white", "code-white", "code-default")


def default_eigvals(D) -> np.ndarray:
    """Official-code eigenvalues (D, D−1, …, 1)/(D(D+1)/2), descending, trace 1 [D] (§2.2)."""
    D = count("D", D)
    return np.arange(D, 0, -1, dtype=float) / (D * (D + 1) / 2)


def random_rotation(D, seed) -> np.ndarray:
    """Haar-distributed orthogonal matrix [D, D] from the QR decomposition of a standard Gaussian matrix.

    The signs of diag(R) are moved into Q so the distribution is uniform (plain QR is not).
    """
    D = count("D", D)
    G = np.random.default_rng(seed).standard_normal((D, D))
    Q, R = np.linalg.qr(G)
    return Q * np.where(np.diag(R) < 0, -1.0, 1.0)


def covariance(preset, D, seed=None) -> np.ndarray:
    """Λ [D, D] for a named preset (module docstring). ``seed`` only affects "code-default"."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    D = count("D", D)
    if preset == "paper-white":
        return np.eye(D)
    if preset == "code-white":
        return np.eye(D) / D
    lams = default_eigvals(D)
    if seed is None:
        return np.diag(lams)
    Q = random_rotation(D, seed)
    Lam = (Q * lams) @ Q.T
    return 0.5 * (Lam + Lam.T)
