"""capdyn.sim.memory — associative memories, the factual-recall task and the one-hot linear-attention model
(associative_memory.md §1–§9).

- ``capacity``: random embeddings, weighted memories W_q, blocked exact top-1 accuracy, Hebbian Monte Carlo,
  the §1.3 capacity search and a logistic success-curve fit (§1.3, §2);
- ``factual``: the factual-recall sequence generator in every mode of §5, and its invariants (F1);
- ``onehot``: the §8 one-hot linear-attention model with closed-form gradients and SGD on fresh batches;
- ``schemes``: the Cabannes et al. memories and their Monte Carlo errors vs d and T (§9.1–§9.3).

``naive``, ``naive_onehot`` and ``naive_schemes`` hold the plain numpy references with the same signatures.
"""

from sim.memory import naive, naive_onehot, naive_schemes
from sim.memory.capacity import (
    LAWS,
    TARGETS,
    CapacitySearch,
    HebbianCapacity,
    HebbianMC,
    LogisticFit,
    MemoryProblem,
    allowed_errors,
    default_hebbian_bracket,
    embeddings,
    hebbian_accuracy,
    hebbian_capacity,
    logistic_capacity,
    memory_problem,
    run_searches,
    targets,
    top1_accuracy,
    top1_errors,
    weighted_memory,
)
from sim.memory.factual import (
    FactRecall,
    answer_marginal,
    eos_token,
    fact_table,
    noise_range,
    rank_probabilities,
    sample_sequences,
    sequence_invariants,
    vocab_size,
)
from sim.memory.onehot import OneHotRun, batch_counts, draw_batch, gradients, sgd_train
from sim.memory.schemes import Scheme, SchemeMC, margin_table, memory_errors, scheme_error_mc, unseen_mass_mc

__all__ = [
    "LAWS", "TARGETS", "CapacitySearch", "FactRecall", "HebbianCapacity", "HebbianMC", "LogisticFit",
    "MemoryProblem", "OneHotRun", "Scheme", "SchemeMC", "allowed_errors", "answer_marginal", "batch_counts",
    "default_hebbian_bracket", "draw_batch", "embeddings", "eos_token", "fact_table", "gradients",
    "hebbian_accuracy", "hebbian_capacity", "logistic_capacity", "margin_table", "memory_errors", "memory_problem",
    "naive", "naive_onehot", "naive_schemes", "noise_range", "rank_probabilities", "run_searches",
    "sample_sequences", "scheme_error_mc", "sequence_invariants", "sgd_train", "targets", "top1_accuracy",
    "top1_errors", "unseen_mass_mc", "vocab_size", "weighted_memory",
]
