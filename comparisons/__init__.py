"""Theory of the TMS phases and everything that relates the two engines to it.

``comparisons.theory`` is the numpy/scipy truth (potential, k-gons, classifier, free energy);
the command line (``comparisons.cli``) and reports import the engines lazily.
"""

from . import theory
from .errors import InputError
from .theory import (classify, crossings, dominant_intervals, empirical_loss, enumerate_phases,
                     free_energy, population_loss, population_loss_grad, sample_inputs)

__version__ = "0.1.0"

__all__ = [
    "InputError", "classify", "crossings", "dominant_intervals", "empirical_loss",
    "enumerate_phases", "free_energy", "population_loss", "population_loss_grad", "sample_inputs",
    "theory", "__version__",
]
