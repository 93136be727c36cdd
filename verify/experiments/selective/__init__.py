"""Claims of the ``selective`` topic (selective_attention.md §8 rows C1–C5, C7–C12): the closed forms of
``theory.selective`` and the Monte Carlo S1–S4 of ``sim.selective``, judged against the spec's reference values.

Kinds. Closed forms and semantics (C1, C2, C3, C5, C7, C10) are checks of capdyn's own correctness: a fail is a
bug. Rows that turn a statement of the paper into a number (C4 dilution, C8 value temperature, C9 Hopfield view of
the log-n temperature, C11 write gating, C12 parameter overhead) are paper claims. Every setting is the package's
own parametrization (§2.4): τ_pos(n) = 1 + s·log n multiplies a query row, logits are dot products with the
1/√d_h scale absorbed into the gap, risks are per coordinate.

Reference values that come from another Monte Carlo run (the spec's [numerical check] numbers) are compared with
the combined error of two independent estimates: |MC − ref| ≤ 4·√(SE² + SE_ref²) + half a unit of the last
printed digit, with SE_ref = SE·√(trials / trials_ref) (the same estimator at the reference's trial count).
Rows needing trained models (C13–C17) and the torch SSA layer (C6) are outside this module.
"""

from verify.experiments.selective import closed_forms, monte_carlo  # noqa: F401
