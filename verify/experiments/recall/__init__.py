"""Claims of the ``recall`` topic (test_time_memory.md §9 rows 1–35; experiments X1–X8 of §10).

Every row of the claims table is one claim. Rows 1–28 are decided by theory and simulation without training;
rows 29–35 by MQAR data and trained models (``mqar_data``, ``mqar``, ``mqar_precision``). Rows 30–32 and 35 need
the paper's GPU scale (``gpu_scale``): the smoke profile leaves them out unless they are named. Checks (capdyn's own
correctness, ``pass``/``fail``): the update rules and their sympy certificates, the recurrences against
independent minimisers and autograd, the chunkwise forms, CG facts and exact recall identities (rows 1–15, 17–20,
26). Paper claims (what the spec states, ``reproduced``/``not reproduced``/``inconclusive``): the damped-CG floor,
the capacity laws and reference numbers of §6 and the forgetting-window heuristic (rows 16, 21–25, 27, 28).

Runs are module-level functions returning JSON-able metrics (non-finite numbers become ``None``). Claims that read
the same quantities plan identical runs, which the runner computes once: one X1 run per (d, seed) serves rows
1–5, 7–14, 19, 20 and 26; the sympy runs serve every row that quotes a certificate.
"""

from verify.experiments.recall import (  # noqa: F401
    capacity,
    certificates,
    cg,
    forgetting,
    mqar,
    mqar_data,
    mqar_precision,
    passes,
    rules,
)
