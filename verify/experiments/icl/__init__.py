"""Claims of the ``icl`` topic (icl_linear_attention.md §11)."""
