"""SMC mutation kernel with a fixed number of MH steps per stage (imported lazily: needs PyMC).

PyMC's MH/IMH kernels stop mutating when the particle autocorrelation stops falling by
``correlation_threshold``; on the multimodal TMS posterior this stops after 1-3 steps and the
particles never reach the k-gon basins. This kernel always makes ``mutation_steps`` random-walk
MH steps (PyMC's adaptive per-particle scales and population covariance proposal).
Defined at module level so that it can be pickled into worker processes.
"""

from __future__ import annotations

__all__ = ["FixedStepsMH"]

import numpy as np
from pymc.pytensorf import floatX
from pymc.smc.kernels import MH


class FixedStepsMH(MH):
    """:class:`pymc.smc.kernels.MH` with exactly ``mutation_steps`` steps per stage."""

    def __init__(self, *args, mutation_steps: int = 25, **kwargs):
        super().__init__(*args, **kwargs)
        self.mutation_steps = int(mutation_steps)

    def mutate(self):
        ac_ = []
        for _ in range(self.mutation_steps):
            log_R = np.log(self.rng.random(self.draws))
            proposal = floatX(self.tempered_posterior
                              + self.proposal_dist(num_draws=self.draws, rng=self.rng)
                              * self.proposal_scales[:, None])
            ll = np.array([self.likelihood_logp_func(prop) for prop in proposal])
            pl = np.array([self.prior_logp_func(prop) for prop in proposal])
            proposal_logp = pl + ll * self.beta
            accepted = log_R < (proposal_logp - self.tempered_posterior_logp)
            self.tempered_posterior[accepted] = proposal[accepted]
            self.prior_logp[accepted] = pl[accepted]
            self.likelihood_logp[accepted] = ll[accepted]
            self.tempered_posterior_logp[accepted] = proposal_logp[accepted]
            ac_.append(accepted)
        self.n_steps = self.mutation_steps + 1
        self.chain_acc_rate = np.mean(ac_, axis=0)
