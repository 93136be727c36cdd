"""capdyn.theory — symbolic derivations (sympy) and the numpy predictions built from them.

One module (or sub-package) per topic: ``theory.icl``. Imports numpy, scipy and sympy only.
"""
