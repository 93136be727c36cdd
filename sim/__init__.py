"""capdyn.sim — numba kernels (population flows, Monte Carlo, recurrences), each beside a naive reference.

Imports numpy, numba and theory only.
"""
