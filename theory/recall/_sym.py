"""Small sympy helpers shared by the recall derivations: explicit symbol matrices and entry-wise calculus."""

from __future__ import annotations

import sympy as sp


def matrix(name: str, rows: int, cols: int, **assumptions) -> sp.Matrix:
    """Explicit [rows, cols] matrix of scalar symbols ``name_ij``."""
    return sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"{name}_{i}{j}", **assumptions))


def vector(name: str, n: int, **assumptions) -> sp.Matrix:
    """Explicit [n, 1] column of scalar symbols ``name_i``."""
    return sp.Matrix(n, 1, lambda i, _: sp.Symbol(f"{name}_{i}", **assumptions))


def gradient(expr, W: sp.Matrix) -> sp.Matrix:
    """∂expr/∂W entry by entry [same shape as W]."""
    return W.applyfunc(lambda w: sp.diff(expr, w))


def frob2(A: sp.Matrix):
    """‖A‖²_F."""
    return sum(a**2 for a in A)


def inner(A: sp.Matrix, B: sp.Matrix):
    """⟨A, B⟩ = tr(AᵀB)."""
    return sum(a * b for a, b in zip(A, B))


def substitute(expr, W: sp.Matrix, value: sp.Matrix):
    """expr with every entry of the symbol matrix W replaced by the matching entry of value."""
    return expr.xreplace(dict(zip(W, value)))


def zero(x):
    """Simplify a scalar expression that is expected to vanish; returns 0 or the simplified remainder."""
    x = sp.sympify(x)
    if x == 0:
        return sp.Integer(0)
    y = sp.cancel(sp.together(x))
    if y == 0:
        return sp.Integer(0)
    # every Abs argument in these derivations is real, where |x| = x·sign(x)
    y = sp.cancel(sp.together(y.replace(sp.Abs, lambda a: a * sp.sign(a))))
    if y == 0:
        return sp.Integer(0)
    y = sp.simplify(sp.expand_log(sp.powsimp(y), deep=True))
    if y == 0:
        return sp.Integer(0)
    return sp.simplify(sp.trigsimp(sp.expand(y)))


def zero_matrix(M: sp.Matrix) -> sp.Matrix:
    """Entry-wise :func:`zero` [same shape]."""
    return M.applyfunc(zero)
