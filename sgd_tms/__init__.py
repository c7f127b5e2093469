"""SGD trajectory ensembles of the Toy Model of Superposition, LLC along them, dynamical phases.

The dynamical half of the study (Chen et al. 2023, arXiv 2310.06301, Figures 1 and 3): many SGD
runs trained as one batched torch program (:func:`train`), the local learning coefficient at
every checkpoint by localised SGLD batched over runs x checkpoints x chains
(:func:`estimate_llc`), and the phase sequence of every run (:func:`phase_sequences`).

Optimisers and the sampler are BlackJAX-style kernels (:mod:`sgd_tms.kernels`) over plain
tensors; the maths lives in :mod:`sgd_tms.model` (torch twins of :mod:`comparisons.theory`).
Importing this package has no side effects; it never imports ``bayes_tms`` or PyMC.
"""

from .config import LLCConfig, PRESETS, TrainConfig, config_hash, preset
from .kernels import (AdamState, Kernel, MomentumState, SGDState, SGLDState, StepInfo, adam,
                      momentum, run_steps, sgd, sgld)
from .llc import estimate_llc, sgld_llc
from .model import (OneHotTensors, empirical_loss, minibatch_loss_and_grad, onehot_loss_and_grad,
                    onehot_tensors, population_loss, population_loss_and_grad)
from .phases import (LabellingComparison, Plateau, compare_labellings, count_paper_sequence,
                     count_subsequence, default_loss_tolerance, label_by_loss, label_checkpoints,
                     loss_levels, path_fractions, phase_moves, phase_sequences, plateau_rank_correlation,
                     segment_run, time_in_phase, transition_counts, transition_matrix)
from .train import (initial_parameters, llc_config_of, load_trajectory, train,
                    train_config_of, training_data)

__all__ = [
    "AdamState", "Kernel", "LLCConfig", "LabellingComparison", "MomentumState",
    "OneHotTensors", "PRESETS", "Plateau", "SGDState", "SGLDState", "StepInfo", "TrainConfig",
    "adam", "compare_labellings", "config_hash", "count_paper_sequence", "count_subsequence",
    "default_loss_tolerance", "empirical_loss", "estimate_llc", "initial_parameters",
    "label_by_loss", "label_checkpoints", "llc_config_of", "load_trajectory", "loss_levels",
    "minibatch_loss_and_grad", "momentum", "onehot_loss_and_grad", "onehot_tensors",
    "path_fractions", "phase_moves", "phase_sequences", "plateau_rank_correlation", "population_loss",
    "population_loss_and_grad", "preset", "run_steps", "segment_run", "sgd",
    "sgld", "sgld_llc", "time_in_phase", "train", "train_config_of", "training_data",
    "transition_counts", "transition_matrix",
]
