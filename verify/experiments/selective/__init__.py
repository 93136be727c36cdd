"""Claims of the ``selective`` topic (selective_attention.md §8 rows C1–C17): the closed forms of
``theory.selective``, the Monte Carlo S1–S4 of ``sim.selective``, the torch SSA layer of ``verify.models.ssa`` and
the trained experiments T1–T5, judged against the spec's reference values.

Modules. ``closed_forms`` (C1–C3, C5, C7, C8, C10, C12) and ``monte_carlo`` (C4, C9, C11) need no training;
``trained_exact`` holds the SSA-layer check (C6) and the full-batch experiments on exact targets (C13 T1, C14 T2);
``trained_sampled`` the experiments trained on sampled streams (C15 T3, C16 T4, C17 T5).

Kinds. Closed forms, semantics and the layer's identities (C1, C2, C3, C5, C6, C7, C10) are checks of capdyn's
own correctness: a fail is a bug. Rows that turn a statement of the paper into a number (C4 dilution, C8 value
temperature, C9 Hopfield view of the log-n temperature, C11 write gating, C12 parameter overhead, C13–C17 trained
models) are paper claims. Every setting is the package's own parametrization (§2.4): τ_pos(n) = 1 + s·log n
multiplies a query row, logits are dot products with the 1/√d_h scale absorbed into the gap (closed forms) or
applied as usual (trained layers), risks are per coordinate.

Reference values that come from another Monte Carlo run (the spec's [numerical check] numbers) are compared with
the combined error of two independent estimates: |MC − ref| ≤ 4·√(SE² + SE_ref²) + half a unit of the last
printed digit, with SE_ref = SE·√(trials / trials_ref) (the same estimator at the reference's trial count).
"""

from verify.experiments.selective import closed_forms, monte_carlo, trained_exact, trained_sampled  # noqa: F401
