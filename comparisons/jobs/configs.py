"""The Bayesian configuration family and its presets, as the command line reaches them.

The CLI modules import no engine (``tests/test_layering.py``): they build their configs from the
classes and presets re-exported here, beside the jobs that run them. One home each:

- :class:`bayes_tms.config.PosteriorSpec`: the posterior every sampler targets (features, hidden,
  ns, seed, beta, prior_sigma, classifier, bootstrap) and its one validator;
- :class:`bayes_tms.config.BayesConfig` (NUTS) with :data:`NUTS_PRESETS` and :func:`preset_config`;
- :class:`bayes_tms.pt.PTConfig` (replica exchange) with :data:`PT_PRESETS` and
  :func:`pt_preset_config`;
- :class:`bayes_tms.config.SMCConfig` (SMC free energy);
- :class:`comparisons.jobs.bayes_pt.SwitchStudyConfig`: the switch study over data sets.
"""

from __future__ import annotations

__all__ = ["CONVENTIONS", "NUTS_PRESETS", "PT_PRESETS", "BayesConfig", "PTConfig", "PosteriorSpec", "SMCConfig",
           "SwitchStudyConfig", "check_features", "nutpie_available", "preset_config", "pt_preset_config"]

from bayes_tms.config import PRESETS as NUTS_PRESETS
from bayes_tms.config import BayesConfig, PosteriorSpec, SMCConfig, check_features, nutpie_available, preset_config
from bayes_tms.pt import PT_PRESETS, PTConfig, pt_preset_config

from .bayes_pt import CONVENTIONS, SwitchStudyConfig
