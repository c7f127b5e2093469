"""The numpy/scipy "truth" of the project: potential, k-gon phases, classifier, free energy.

This subpackage imports neither torch nor PyMC; both engines import it, never each other.
"""

from .classify import (DEFAULT_MAX_DISTANCE, HULL_TOL, OCCUPANCY_RULE, PRESENT_NORM, RULES, UNCLASSIFIED, classify,
                       classify_dataarrays, hull_structure, hull_vertices, phase_distances)
from .free_energy import (llc_beta, check_beta, critical_sample_sizes, crossings, dominant_intervals, dominant_phase,
                          effective_llc, effective_sample_size, free_energy)
from .kgons import Phase, enumerate_phases, hessian, hessian_from_gradient, kgon_point, phase_label, solve_kgon
from .onehot import (NestedOneHot, OneHotData, empirical_loss_onehot, empirical_loss_onehot_grad,
                     is_onehot, nested_loss_grad, nested_onehot_summary, onehot_summary)
from .potential import (empirical_loss, empirical_loss_grad, forward, gram, population_loss,
                        population_loss_grad, sample_inputs)

__all__ = ["llc_beta", 
    "HULL_TOL", "OCCUPANCY_RULE", "RULES", "check_beta", "effective_sample_size", "hull_structure", "hull_vertices",
    "DEFAULT_MAX_DISTANCE", "PRESENT_NORM", "UNCLASSIFIED", "OneHotData", "Phase", "classify",
    "empirical_loss_onehot", "empirical_loss_onehot_grad", "is_onehot", "onehot_summary",
    "NestedOneHot", "nested_onehot_summary", "nested_loss_grad",
    "classify_dataarrays", "critical_sample_sizes", "crossings", "dominant_intervals",
    "dominant_phase", "effective_llc", "empirical_loss", "empirical_loss_grad", "enumerate_phases",
    "forward", "free_energy", "gram", "hessian", "hessian_from_gradient", "kgon_point", "phase_distances", "phase_label",
    "population_loss", "population_loss_grad", "sample_inputs", "solve_kgon",
]

from .laplace import LaplaceTerms, laplace_crossing, laplace_crossings, laplace_free_energy, laplace_terms  # noqa: E402

__all__ += ["LaplaceTerms", "laplace_crossing", "laplace_crossings", "laplace_free_energy", "laplace_terms"]

from .streams import child_rng, child_seed, child_sequence  # noqa: E402

__all__ += ["child_rng", "child_seed", "child_sequence"]

from .llc_estimate import LLC_METHODS, LLCEstimate, LLCSettings  # noqa: E402

__all__ += ["LLCEstimate", "LLC_METHODS", "LLCSettings"]

from .local_free_energy import (candidate_phases, dominant_sequence, judge_predictions,  # noqa: E402
                                measured_free_energy, volume_free_energy)

__all__ += ["candidate_phases", "dominant_sequence", "judge_predictions", "measured_free_energy",
            "volume_free_energy"]
