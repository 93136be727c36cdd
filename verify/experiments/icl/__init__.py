"""Claims of the ``icl`` topic (icl_linear_attention.md §11); importing registers them."""

from verify.experiments.icl import attn_m, attn_s, checks, checks_torch, softmax  # noqa: F401
