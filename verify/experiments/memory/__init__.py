"""Claims of the ``memory`` topic (associative_memory.md §11): linear and MLP associative memories (rows A1–A7,
B1), the factual-recall transformer (F0–F4), sequential learning (F5, S1–S5) and the Cabannes et al. scaling laws
(Z1–Z7)."""

from verify.experiments.memory import cabannes, memories, sequential, transformer  # noqa: F401
