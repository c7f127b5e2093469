"""Bayesian phase transitions of the Toy Model of Superposition: the posterior as a PyMC model,
NUTS and replica exchange over the n-ladder, phase occupancy with bootstrap intervals.

A library: its functions compute and return labelled data (ArviZ ``InferenceData``, xarray);
what to run and where it is stored is :mod:`comparisons.jobs`'s business.

Importing this package loads neither PyMC nor PyTensor (they are imported inside the functions
that need them), writes no files and adds no log handlers. It never imports ``sgd_tms`` or torch.
"""

from .cache import ModelCache
from .config import BACKENDS, PRESETS, BayesConfig, SMCConfig, preset_config
from .likelihood import OneHotArrays, dense_loss, onehot_arrays, onehot_loss_fused
from .llc import LLCEstimate, NUTSLLCConfig, loss_llc, nuts_llc
from .model import build_model, model_data
from .occupancy import chain_summary, diagnostics_table, family, occupancy_table, transitions
from .plots import plot_occupancy
from .pt import (PTConfig, PTResult, PTState, PTTarget, load_state, pt_diagnostics, resume_tms_pt,
                 sample_tms_pt, save_state, tms_target)
from .sampling import add_derived, check_posterior, derived_draws, nested_data, read_posterior, sample_posterior

__all__ = [
    "BACKENDS", "PRESETS", "BayesConfig", "SMCConfig", "preset_config",
    "OneHotArrays", "onehot_arrays", "dense_loss", "onehot_loss_fused", "build_model", "model_data",
    "sample_posterior", "add_derived", "derived_draws", "read_posterior", "check_posterior", "nested_data",
    "occupancy_table", "chain_summary", "transitions", "diagnostics_table", "family",
    "plot_occupancy",
    "LLCEstimate", "NUTSLLCConfig", "nuts_llc", "loss_llc", "ModelCache",
    "PTConfig", "PTResult", "PTState", "PTTarget", "sample_tms_pt", "resume_tms_pt", "tms_target",
    "save_state", "load_state", "pt_diagnostics",
]
