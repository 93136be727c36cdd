#!/usr/bin/env bash
# The CPU subset of the `paper` profile for the memory and recall topics: the commands that wrote the memory and
# recall entries of figures/ on a 2-core machine without a GPU. Claims that only a GPU can decide (the trained
# MQAR grids, the transformer sweeps, the Cabannes optimiser grid) are left out; the largest grids are cut where
# noted, and every claim run with --set records the settings it changed in figures/claims.json and in each
# figure's JSON (`capdyn report` prints them next to the device).
#
# With a GPU, run the full profile instead:  capdyn verify memory recall --profile paper
set -euo pipefail
jobs=${JOBS:-2}

# memory, theory and simulation rows at the paper's scale: Cabannes Z1-Z4, Z6, Z7; B1, F0, F1; the sequential-
# learning rows S1-S5 and F5 (sim and torch, 5 seeds, 8192 steps at batch 1024).
capdyn verify memory.unseen_mass memory.threshold_scheme memory.frequency_scheme memory.fill_scheme \
  memory.one_step_gradient memory.margin_recursion memory.lower_bounds memory.tf_param_count \
  memory.factual_generator memory.hallucination_plateau memory.stage_times memory.stage_time_law \
  memory.order_reversal memory.marginal_stage memory.additivity --profile paper --jobs "$jobs"

# memory, linear / MLP / Hebbian memories (A1-A7): the paper's seeds, steps and search resolution, on the
# grid cells that fit a CPU (trained linear d <= 32, MLP md <= 256, Hebbian d <= 128, M = 2/8/32 readouts d <= 64).
capdyn verify memory.linear_capacity memory.linear_slope memory.linear_lr_bias memory.hebbian_capacity \
  memory.hebbian_threshold memory.trained_vs_hebbian memory.mlp_capacity memory.mlp_fixed_outputs \
  memory.bits_per_parameter memory.readout_bottleneck --profile paper --jobs "$jobs" \
  --set 'lin_dims=[8,11,16,22,32]' --set 'lr_dims=[8,11,16,22,32]' --set 'ratio_dims=[32]' \
  --set 'heb_dims=[16,32,64,128]' --set 'm2_dims=[16,32,64]' \
  --set 'mlp_cells=[[8,8],[8,16],[8,32],[11,11],[11,22],[16,16]]'

# recall, X3 (capacity of linear attention, delta rule, least squares, ridge and Mesa vs N): the full paper grid,
# d_k in {16, ..., 256}, 200 draws, beta in {0.5, 1}. One run (20 draws) takes about 1, 3, 9, 28 and 150 s at
# d_k = 16 ... 256 in one process that uses both cores for its numba and BLAS threads (60 minutes in all).
capdyn verify recall.ridge_random_keys recall.la_crosstalk recall.least_squares_error recall.delta_one_pass \
  recall.argmax_accuracy --profile paper --jobs 1

# recall, every other row without training at the paper's scale (X1, X2, X4, X5, the sim half of X8); the
# trained MQAR grids (X6, X7 and X8's training runs) and the fla kernel comparison need a GPU.
capdyn verify \
  recall.cg_finite_termination recall.damped_cg_floor recall.hessian_bound recall.cg_tolerance_stop \
  recall.forgetting_window recall.mqar_invariants recall.mesa_precision recall.delta_cyclic_passes \
  recall.deltanet_is_sgd recall.gdn_product_and_chunkwise recall.gdn_minus_miras recall.longhorn_implicit_step \
  recall.learning_retaining_gates recall.memora_kkt recall.moneta_gradient recall.moneta_retention_map \
  recall.yaad_branches recall.titans_unrolled recall.mesa_weighted_ridge recall.mesa_chunkwise \
  recall.mesa_implicit_gradients recall.sympy_certificates recall.mesa_limits recall.ridge_orthonormal \
  recall.orthonormal_exact \
  --profile paper --jobs "$jobs" --set 'train_precisions=[]'

capdyn report
