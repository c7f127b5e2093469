"""The Bayes free energy ``-log Z_n`` by sequential Monte Carlo (``pm.sample_smc``).

``Z_n = ∫ N(w; 0, prior_sigma^2) exp(-n beta L_n(w)) dw = E_prior[exp(-n beta L_n)]``: the model of
:func:`bayes_tms.build_model` carries the likelihood as a ``pm.Potential``, PyMC's SMC tempers
exactly that potential (``model.datalogp``) from 0 to 1 starting from exact prior draws (the
prior ``model.varlogp`` is the normalised Gaussian), and its ``log_marginal_likelihood`` (last
stage of ``sample_stats``) is therefore ``log Z_n`` with the prior normalisation included. The
test suite checks this convention on a Gaussian model with a closed-form ``Z``.

Each independent SMC run (a PyMC "chain") gives one estimate of ``log Z_n``; their mean and
standard error over runs are reported (the single-run SMC estimate of ``log Z`` is biased
low by about half its variance, so the spread also bounds the bias). The final particles are an
approximate sample of the whole posterior, with no need for chains to cross between phases:
classifying them gives the third estimate of the phase occupancy (beside replica exchange and
the NUTS ladder bridge), with intervals over the runs (:func:`particle_occupancy`).

Cost: SMC evaluates the compiled log density once per particle per MCMC step in a Python loop;
with the fused one-hot likelihood (c = 6) one evaluation costs ~20-40 us, so the cost is roughly
``particles x stages x steps x 30 us``, where the number of tempering stages grows like
``log n`` (see :func:`smc_log_evidence` for measured wall times).
"""

from __future__ import annotations

__all__ = ["SMCResult", "particle_occupancy", "smc_log_evidence", "smc_model_evidence", "SMC_KERNELS"]

import logging
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from comparisons.contracts import phase_order
from comparisons.errors import InputError, check_positive_int
from comparisons.theory import child_sequence
from comparisons.theory.streams import root_sequence, spawned_seeds

from .config import SMC_KERNELS, SMCConfig
from .labels import phase_labels
from .model import build_model, check_data, model_data, resolve_likelihood
from .occupancy import cell_arrays, labelled_occupancy



@dataclass(frozen=True, eq=False)
class SMCResult:
    """One SMC estimate of the evidence at one ``n``.

    Attributes
    ----------
    n : int
    log_evidence : ndarray, shape (runs,)
        ``log Z_n`` of each independent run.
    log_evidence_mean, log_evidence_se : float
        Mean over runs and its standard error (``sd / sqrt(runs)``; NaN with one run).
    stages : int
        Tempering stages of the longest run.
    particles : int
        Particles per run.
    labels : ndarray of str, shape (runs, particles)
        Phase of every final particle under the run's classifier (``"unclassified"`` when none
        is near, and for ``hidden != 2``).
    W : ndarray, shape (runs, particles, hidden, features)
    b : ndarray, shape (runs, particles, features)
    wall_s : float
        Wall time of sampling.
    settings : dict
        beta, prior_sigma, kernel, likelihood, runs, classifier, mutation_steps, threshold.
    """

    n: int
    log_evidence: np.ndarray
    log_evidence_mean: float
    log_evidence_se: float
    stages: int
    particles: int
    labels: np.ndarray = field(repr=False)
    W: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    wall_s: float
    settings: dict = field(default_factory=dict)

    @property
    def free_energy(self) -> float:
        """``-log Z_n`` (mean over runs)."""
        return -self.log_evidence_mean

    def fractions(self, alpha: float = 0.05) -> xr.Dataset:
        """Particle fraction per phase with an interval over the independent runs.

        See :func:`particle_occupancy` (the final particles of every run are equally weighted).

        Returns
        -------
        xarray.Dataset
            The occupancy hand-off of this ``n`` (:func:`particle_occupancy`).
        """
        return particle_occupancy(self.labels, self.n, alpha=alpha)


def particle_occupancy(labels, n: int, alpha: float = 0.05) -> xr.Dataset:
    """Phase fractions of SMC particles with intervals from the spread over independent runs.

    Parameters
    ----------
    labels : array_like of str, shape (runs, particles)
        The phase of every final particle of every run. PyMC's SMC ends with a resampling step
        at the target (inverse temperature 1) followed by the mutations, so the final particles
        of a run are equally weighted: a run's fraction of label ``p`` is its estimate of the mass
        of ``p``.
    n : int
        Sample size, the one ``n`` of the result.
    alpha : float
        Two-sided level: ``1 - alpha`` intervals.

    Returns
    -------
    xarray.Dataset
        The occupancy hand-off (:data:`comparisons.contracts.OCCUPANCY`, estimator ``"smc"``, one
        ``n``), one phase per label seen: ``fraction, lower, upper``, ``se`` and ``particles``
        (the count over all runs; ``chains`` is -1: SMC has none), ``runs`` over ``(estimator,
        n)``; attrs ``sampler``, ``alpha``. ``se``, ``lower`` and ``upper`` are NaN with one run.

    Notes
    -----
    The fraction is the mean of the runs' fractions ``f_r``. Its standard error is
    ``sqrt(max(s^2 / R, f (1 - f) / (R P)))`` with ``s`` the standard deviation of the ``f_r``
    over the ``R`` runs of ``P`` particles, and the interval is ``f +- t_{R-1, 1-alpha/2} se``
    clipped to ``[0, 1]``. Why over runs and not a bootstrap over particles: on a multimodal
    posterior the error of SMC is dominated by how the early, flat stages split the particles
    between basins, which is shared by every particle of a run (and the resampling makes
    particles copies of each other), so particles within a run are far from independent;
    independent runs are. The multinomial term is a floor for runs that happen to agree exactly.
    """
    from scipy import stats

    labs = np.asarray(labels).astype(str)
    if labs.ndim != 2 or labs.size == 0:
        raise InputError(f"labels: expected a non-empty (runs, particles) array, got shape {labs.shape}")
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise InputError(f"alpha: expected a number in (0, 1), got {alpha!r}")
    R, P = labs.shape
    q = float(stats.t.ppf(1 - alpha / 2, R - 1)) if R > 1 else float("nan")
    names = sorted(set(np.unique(labs)), key=phase_order)
    cells = {}
    for nm in names:
        per_run = (labs == nm).mean(axis=1)
        f = float(per_run.mean())
        if R > 1:
            se = float(np.sqrt(max(per_run.var(ddof=1) / R, f * (1 - f) / (R * P))))
            lo, hi = max(0.0, f - q * se), min(1.0, f + q * se)
        else:
            se = lo = hi = float("nan")
        cells[int(n), str(nm)] = (f, lo, hi, -1, se, int(np.sum(labs == nm)))
    keys = ("fraction", "lower", "upper", "chains", "se", "particles")
    values = cell_arrays([int(n)], names, cells, keys)
    values["particles"] = values["particles"].astype(np.int64)
    occ = labelled_occupancy([int(n)], names, values, estimator="smc", level="phase",
                             attrs={"sampler": "smc", "alpha": float(alpha)})
    return occ.assign(runs=(("estimator", "n"), np.array([[R]], dtype=np.int64)))


def _last_finite(values: np.ndarray) -> float:
    flat: list[float] = []

    def walk(v) -> None:  # runs with different stage counts come back as nested object arrays
        if isinstance(v, (list, tuple, np.ndarray)):
            for t in (v.ravel() if isinstance(v, np.ndarray) else v):
                walk(t)
        elif v is not None:
            flat.append(float(v))

    walk(values)
    v = np.asarray(flat, dtype=float)
    v = v[np.isfinite(v)]
    return float(v[-1]) if v.size else float("nan")


def smc_log_evidence(x, config: SMCConfig, *, progress: bool = False, model=None) -> SMCResult:
    """``log Z_n`` of the TMS posterior by PyMC's SMC, plus the phase of every final particle.

    Parameters
    ----------
    x : array_like, shape (n, c)
        Data (one-hot rows select the exact fast likelihood); ``n = len(x)``.
    config : SMCConfig
        The posterior (``hidden``, ``beta``, ``prior_sigma``, ``classifier``, ``seed``) and the SMC
        settings: ``particles`` per run (PyMC's ``draws``), ``runs`` (PyMC's ``chains``: the
        spread of ``log Z_n`` over runs is the error bar), the mutation ``kernel``
        (``"fixed-MH"``, the default, makes exactly ``mutation_steps`` random-walk MH steps per
        stage, :class:`bayes_tms._smc_kernel.FixedStepsMH`; PyMC's ``"IMH"`` and ``"MH"`` stop
        after 1-3 steps here and leave the particles far from every phase, measured: all
        particles unclassified at c = 6, n = 400, and log Z off by ~10), PyMC's ESS
        ``threshold`` and ``cores``. ``config.ns`` is not read (the ladder is the job's). The
        run's stream is ``child_sequence(seed, "bayes", "smc", n)`` of the seed tree
        (:mod:`comparisons.theory.streams`).
    progress : bool
    model : pymc.Model, optional
        A model from :func:`bayes_tms.build_model` to reuse (its data are replaced by ``x``);
        saves compilation across a ladder of ``n``.

    Returns
    -------
    SMCResult
        The final particles labelled by ``config.classifier``
        (:func:`bayes_tms.labels.phase_labels`; ``"unclassified"`` for ``hidden != 2``).

    Notes
    -----
    ``log Z_n = log ∫ N(w; 0, prior_sigma^2) exp(-n beta L_n(w)) dw`` (the prior normalisation is
    included; no other constant). The asymptotic local free energies of
    :func:`comparisons.theory.free_energy` omit an ``n``-independent constant, so comparisons
    align the two at one ``n`` (see :mod:`comparisons.free_energy_measured`).
    """
    import pymc as pm

    if not isinstance(config, SMCConfig):
        raise InputError(f"config: expected an SMCConfig, got {type(config).__name__}")
    x = check_data(x)
    n = check_positive_int("n (rows of x)", x.shape[0], minimum=2)
    ss = child_sequence(config.seed, "bayes", "smc", n)
    kernel, mutation_steps, threshold = config.kernel, config.mutation_steps, config.threshold
    particles, runs, beta, prior_sigma = config.particles, config.runs, config.beta, config.prior_sigma
    kind = resolve_likelihood(x, "auto")
    if kernel == "fixed-MH":
        from ._smc_kernel import FixedStepsMH

        kernel_cls, kernel_kwargs = FixedStepsMH, {"mutation_steps": mutation_steps}
    else:
        kernel_cls, kernel_kwargs = getattr(pm.smc.kernels, kernel), {}
    if model is None:
        model = build_model(x, hidden=config.hidden, beta=beta, prior_sigma=prior_sigma, likelihood=kind)
    with model:
        pm.set_data(model_data(x, kind))
    logz, idata, wall = smc_model_evidence(model, particles=particles, runs=runs, seed=ss,
                                           kernel_cls=kernel_cls, threshold=threshold, cores=config.cores,
                                           progress=progress, **kernel_kwargs)
    lml = idata.sample_stats["log_marginal_likelihood"].values.ravel()
    nested = [len(v) for v in lml if isinstance(v, (list, tuple, np.ndarray))]
    stages = max(nested) if nested else int(idata.sample_stats.sizes.get("draw", 0))
    post = idata.posterior
    W = post["W"].transpose("chain", "draw", "hidden", "feature").values
    b = post["b"].transpose("chain", "draw", "feature").values
    labels, _ = phase_labels(W, b, config)
    ok = logz[np.isfinite(logz)]
    mean = float(ok.mean()) if ok.size else float("nan")
    se = float(ok.std(ddof=1) / np.sqrt(ok.size)) if ok.size > 1 else float("nan")
    return SMCResult(n=n, log_evidence=logz, log_evidence_mean=mean, log_evidence_se=se,
                     stages=stages, particles=particles, labels=labels, W=W, b=b, wall_s=wall,
                     settings={"beta": beta, "prior_sigma": prior_sigma, "kernel": kernel,
                               "likelihood": kind, "runs": runs, "classifier": config.classifier,
                               "mutation_steps": mutation_steps if kernel == "fixed-MH" else None,
                               "threshold": threshold})


def smc_model_evidence(model, *, particles: int = 1000, runs: int = 2,
                       seed: int | np.random.SeedSequence = 0, kernel_cls=None, threshold: float = 0.5,
                       cores: int = 1, progress: bool = False, **kernel_kwargs):
    """``log Z`` of any PyMC model by ``pm.sample_smc`` (the only caller of it in the project).

    ``Z = ∫ prior(w) exp(datalogp(w)) dw``: the free variables' (normalised) log densities are
    the prior, observed variables and ``pm.Potential`` terms the tempered likelihood.

    Returns
    -------
    log_evidence : ndarray, shape (runs,)
        The last-stage ``log_marginal_likelihood`` of each run.
    idata : arviz.InferenceData
        The final particles (``posterior``, dims ``chain`` = run, ``draw`` = particle).
    wall_s : float
    """
    import pymc as pm

    ss = root_sequence(seed)
    if kernel_cls is None:
        from ._smc_kernel import FixedStepsMH

        kernel_cls = FixedStepsMH
    seeds = spawned_seeds(ss, runs)
    t0 = time.perf_counter()
    pymc_log = logging.getLogger("pymc")
    level = pymc_log.level
    if not progress:  # PyMC announces every SMC run on its logger; quiet means quiet
        pymc_log.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # the prior draws ignore the likelihood potential by design
        warnings.filterwarnings("ignore", message=".*Potential.*")
        try:
            idata = pm.sample_smc(draws=particles, kernel=kernel_cls, model=model, threshold=threshold,
                                  chains=runs, cores=min(cores, runs), random_seed=seeds,
                                  progressbar=progress, compute_convergence_checks=False,
                                  return_inferencedata=True, idata_kwargs={"log_likelihood": False},
                                  **kernel_kwargs)
        finally:
            pymc_log.setLevel(level)
    wall = time.perf_counter() - t0
    lml = idata.sample_stats["log_marginal_likelihood"]
    vals = lml.values
    if any(isinstance(v, (list, tuple, np.ndarray)) for v in vals.ravel()):
        # runs with different numbers of stages: PyMC returns shape (1, runs) of per-run lists
        per_run = [v for v in vals.ravel() if isinstance(v, (list, tuple, np.ndarray))]
    else:
        per_run = list(vals)
    logz = np.array([_last_finite(v) for v in per_run])
    return logz, idata, wall
