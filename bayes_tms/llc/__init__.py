"""The local learning coefficient (LLC) by exact MCMC and on the population loss: one package.

Modules, one idea each:

- :mod:`~bayes_tms.llc.config`: :class:`NUTSLLCConfig`, the settings of a NUTS estimate;
- :mod:`~bayes_tms.llc.basin`: the basin of a phase (column roles) and its constraint;
- :mod:`~bayes_tms.llc.localised`: the compiled localised model and the estimate from its draws;
- :mod:`~bayes_tms.llc.nuts`: :func:`nuts_llc` (TMS data) and :func:`loss_llc` (any loss);
- :mod:`~bayes_tms.llc.target`: :class:`LossTarget`, the population-loss target of a phase;
- :mod:`~bayes_tms.llc.tempered`: method 1, NUTS on ``exp(-m (L - L*))`` extrapolated in ``m``;
- :mod:`~bayes_tms.llc.volume`: method 2, volume scaling by subset simulation;
- :mod:`~bayes_tms.llc.importance`: a third check of single points, importance sampling;
- :mod:`~bayes_tms.llc.search`: the neighbourhood check (is ``w*`` the lowest point of its basin);
- :mod:`~bayes_tms.llc.measure`: measured tables with reuse (:func:`measure_phases`).

The reasoning behind each choice is in the docs page *LLC methods* (``docs/llc_methods.md``).
"""

from comparisons.theory import LLCEstimate

from .basin import ROLE_DEAD, ROLE_FIRING, ROLE_OFF, ROLE_PLUS, basin_roles, in_basin
from .config import LLC_BACKENDS, RESTRICTS, NUTSLLCConfig
from .importance import importance_lambda
from .measure import MEASURE_DEFAULTS, PARTS, measure_phase, measure_phases, stale_parts, upgrade_table
from .nuts import loss_llc, nuts_llc
from .search import neighbourhood_search
from .target import COORDINATES, DEAD_BIAS_MAX, PLUS_NORM_MAX, LossTarget, tms_target
from .tempered import DEFAULT_M_GRID, FITS, choose_fit, extrapolate, lambda_curve, nuts_lambda
from .volume import VOLUME_FITS, volume_fit, volume_scaling

__all__ = [
    "LLCEstimate", "NUTSLLCConfig", "nuts_llc", "loss_llc", "LLC_BACKENDS", "RESTRICTS",
    "ROLE_FIRING", "ROLE_OFF", "ROLE_PLUS", "ROLE_DEAD", "basin_roles", "in_basin",
    "LossTarget", "tms_target", "COORDINATES", "DEAD_BIAS_MAX", "PLUS_NORM_MAX",
    "DEFAULT_M_GRID", "FITS", "nuts_lambda", "lambda_curve", "extrapolate", "choose_fit",
    "volume_scaling", "volume_fit", "VOLUME_FITS", "importance_lambda", "neighbourhood_search",
    "MEASURE_DEFAULTS", "PARTS", "measure_phase", "measure_phases", "stale_parts", "upgrade_table",
]
