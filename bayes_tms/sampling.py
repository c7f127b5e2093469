"""NUTS on the TMS posterior: one ``n`` (:func:`sample_posterior`) and a ladder (:func:`run_sweep`).

Chain initialisation (documented choice): every chain starts from an independent draw of the
prior ``N(0, prior_sigma^2)`` (PyMC: explicit ``initvals`` drawn from the chain's own stream;
nutpie: ``default_initialization_strategy="prior"``, seeded). At large ``n`` chains do not cross
between phases, so the occupancy is estimated from many prior-initialised chains (see
:mod:`bayes_tms.occupancy`) and within-chain switches are counted.
"""

from __future__ import annotations

__all__ = ["sample_posterior", "add_derived", "derived_draws", "read_posterior", "check_posterior",
           "check_complete", "nested_data", "n_seed", "chain_generators", "SamplingIncomplete"]

import contextlib

import numpy as np

from comparisons.contracts import package_version
from comparisons.errors import InputError, check_finite_array
from comparisons.theory import (OCCUPANCY_RULE, child_rng, child_seed, classify, empirical_loss, empirical_loss_onehot, enumerate_phases,
                                is_onehot, onehot_summary, population_loss, sample_inputs)

from .cache import ModelCache
from .config import BayesConfig
from .model import build_model, check_data, model_data


def n_seed(config: BayesConfig, n: int) -> int:
    """The seed handed to the NUTS back-end at sample size ``n``.

    It is the stream ``("bayes", "nuts", n, "sampler")`` of the seed tree
    (:mod:`comparisons.theory.streams`), so a rung's draws do not depend on the rest of the ladder.
    """
    return child_seed(int(config.seed), "bayes", "nuts", int(n), "sampler")


def chain_generators(config: BayesConfig, n: int) -> list[np.random.Generator]:
    """The generator of each chain's prior start at ``n``: stream ``("bayes", "nuts", n, "chain", k)``."""
    return [child_rng(int(config.seed), "bayes", "nuts", int(n), "chain", k) for k in range(config.chains)]


def nested_data(config: BayesConfig) -> np.ndarray:
    """The data stream ``x[max(ns), c]``; data set ``n`` is ``x[:n]`` (prefix-stable)."""
    return sample_inputs(max(config.ns), config.features, config.seed)


class SamplingIncomplete(RuntimeError):
    """The back-end returned fewer chains or draws than asked for, or non-finite draws."""


def check_complete(idata, *, chains: int, draws: int, n: int | None = None) -> None:
    """Raise :class:`SamplingIncomplete` unless every chain holds ``draws`` finite draws.

    A back-end interrupted part way (nutpie returns the trace so far on Ctrl-C; PyMC returns
    truncated chains) or one whose chains failed leaves NaN-filled chains, zero or too few draws;
    such a result must never be stored as a finished rung.
    """
    where = f"n={n}: " if n is not None else ""
    post = getattr(idata, "posterior", None)
    if post is None or "W" not in post or "b" not in post:
        raise SamplingIncomplete(f"{where}expected posterior draws of W and b, got none")
    got_chains, got_draws = int(post.sizes.get("chain", 0)), int(post.sizes.get("draw", 0))
    if got_chains != chains or got_draws != draws:
        raise SamplingIncomplete(f"{where}expected {chains} chains x {draws} draws, got "
                                 f"{got_chains} x {got_draws} (interrupted or failed sampling)")
    bad = []
    for name in ("W", "b", "empirical_loss", "population_loss"):
        if name in post:
            v = post[name]
            other = [d for d in v.dims if d != "chain"]
            ok = np.isfinite(v.values.astype(float)).reshape(v.sizes["chain"], -1).all(axis=1) \
                if other else np.isfinite(v.values.astype(float))
            bad.extend(int(c) for c in np.flatnonzero(~ok))
    if bad:
        chains_bad = sorted(set(bad))
        raise SamplingIncomplete(f"{where}expected finite draws in every chain, got NaN/inf in "
                                 f"{len(chains_bad)} of {chains} chains {chains_bad}")


@contextlib.contextmanager
def _interrupt_guard():
    """Re-raise a Ctrl-C that the NUTS back-end swallowed.

    ``nutpie.sample`` catches KeyboardInterrupt and returns the partial trace; ``pm.sample``
    returns truncated chains. This records a SIGINT received during the block and raises
    KeyboardInterrupt when the block returns, so the sweep stops instead of storing the rung.
    A process that ignores SIGINT (a pool worker) keeps ignoring it.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous in (signal.SIG_IGN, None):
        yield
        return
    hit: list[int] = []

    def handler(signum, frame):
        hit.append(signum)
        if callable(previous):
            previous(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if hit:
        raise KeyboardInterrupt


def _prior_initvals(config: BayesConfig, rngs: list[np.random.Generator]) -> list[dict]:
    s = config.prior_sigma
    return [{"W": rng.normal(0.0, s, (config.hidden, config.features)),
             "b": rng.normal(0.0, s, config.features)} for rng in rngs]


def sample_posterior(x, config: BayesConfig, *, progress: bool = True, cache: ModelCache | None = None):
    """NUTS draws from ``p(W, b | x)`` with ``config.chains`` prior-initialised chains.

    Parameters
    ----------
    x : array_like, shape (n, c)
        The data set (one-hot rows select the exact fast likelihood).
    config : BayesConfig
        Sampler settings; the seeds used are the streams of :func:`n_seed` (the back-end) and
        :func:`chain_generators` (the chains' prior starts).
    progress : bool
        Show the back-end's progress bar.
    cache : ModelCache, optional
        Compiled models shared across calls, one per (likelihood kind, back-end, shape, beta,
        prior scale): the sweep's rungs share one (``comparisons.jobs.bayes``). Default: a fresh
        one (the model is compiled for this call).

    Returns
    -------
    arviz.InferenceData
        ``posterior``: ``W (chain, draw, hidden, feature)``, ``b (chain, draw, feature)`` and the
        derived ``empirical_loss``, ``population_loss``, ``phase`` (str), ``phase_distance``, all
        ``(chain, draw)``; ``sample_stats`` with ``diverging`` and ``tree_depth``; provenance in
        ``attrs`` (see :func:`add_derived`).

    Notes
    -----
    This is the only caller of ``pm.sample`` and ``nutpie.sample`` in the project.
    """
    x = check_data(x)
    if x.shape[1] != config.features:
        raise InputError(f"x: expected {config.features} features, got {x.shape[1]}")
    n = x.shape[0]
    cache = ModelCache("posterior") if cache is None else cache
    kind = "onehot" if (config.likelihood == "auto" and is_onehot(x)) else (
        "dense" if config.likelihood == "auto" else config.likelihood)
    key = (kind, config.backend, config.hidden, config.features, config.beta, config.prior_sigma)
    data = model_data(x, kind)
    if config.backend == "nutpie":
        idata = _sample_nutpie(x, kind, key, data, config, n, progress, cache)
    else:
        idata = _sample_pymc(x, kind, key, data, config, n, progress, cache)
    check_complete(idata, chains=config.chains, draws=config.draws, n=n)
    return add_derived(idata, x, config)


def _sample_pymc(x, kind, key, data, config, n, progress, cache):
    import pymc as pm

    model = cache.get(key, lambda: build_model(x, hidden=config.hidden, beta=config.beta,
                                               prior_sigma=config.prior_sigma, likelihood=kind))
    rngs = chain_generators(config, n)
    # one root seed (PyMC spawns per-chain streams from it); the prior starts come from the
    # chains' own streams above
    seed = n_seed(config, n)
    with model:
        pm.set_data(data)
    idata = run_nuts(model, "pymc", draws=config.draws, tune=config.tune, chains=config.chains,
                      cores=config.cores, seed=seed, target_accept=config.target_accept,
                      progress=progress, initvals=_prior_initvals(config, rngs))
    stats = idata.sample_stats
    keep = [v for v in ("diverging", "tree_depth", "step_size", "acceptance_rate", "energy", "lp")
            if v in stats]
    idata.sample_stats = stats[keep]
    return _strip_data_groups(idata)


def _sample_nutpie(x, kind, key, data, config, n, progress, cache):
    try:
        import nutpie
    except ImportError:
        raise InputError("backend: expected an installed nutpie for 'nutpie' "
                         "(pip install 'tms-phases[nutpie]'), got none") from None
    from .likelihood import register_numba

    def build():
        register_numba()
        model = build_model(x, hidden=config.hidden, beta=config.beta,
                            prior_sigma=config.prior_sigma, likelihood=kind)
        return nutpie.compile_pymc_model(model, default_initialization_strategy="prior")

    compiled = cache.get(key, build).with_data(**data)
    idata = run_nuts(compiled, "nutpie", draws=config.draws, tune=config.tune, chains=config.chains,
                      cores=config.cores, seed=n_seed(config, n),
                      target_accept=config.target_accept, progress=progress)
    stats = idata.sample_stats
    out = stats[[v for v in ("diverging", "step_size", "energy", "logp") if v in stats]]
    if "depth" in stats:
        out["tree_depth"] = stats["depth"]
    idata.sample_stats = out
    return _strip_data_groups(idata)


def run_nuts(model, backend: str, *, draws: int, tune: int, chains: int, cores: int, seed: int,
             target_accept: float, progress: bool, initvals=None, init_mean=None,
             store_divergences: bool = False):
    """The one call of ``pm.sample`` / ``nutpie.sample`` in the project.

    ``model`` is a ``pymc.Model`` (``backend="pymc"``; started at ``initvals`` or at the model's
    initial point, no jitter) or a compiled nutpie model with its data set (``backend="nutpie"``).
    ``init_mean`` (nutpie): every chain starts at this unconstrained point.
    ``store_divergences`` (nutpie): record where each divergent trajectory ended
    (``sample_stats.divergence_end``).
    Returns the raw InferenceData (no warm-up groups for nutpie).
    """
    if backend == "nutpie":
        import nutpie

        extra = {} if init_mean is None else {"init_mean": np.asarray(init_mean, dtype=float)}
        if store_divergences:
            extra["store_divergences"] = True
        with _interrupt_guard():
            return nutpie.sample(model, draws=draws, tune=tune, chains=chains, cores=cores,
                                 seed=int(seed), progress_bar=progress, save_warmup=False,
                                 target_accept=target_accept, **extra)
    import pymc as pm

    with _interrupt_guard(), model:
        return pm.sample(
            draws=draws, tune=tune, chains=chains, cores=min(cores, chains), random_seed=int(seed),
            initvals=initvals, target_accept=target_accept, init="adapt_diag",
            progressbar=progress, compute_convergence_checks=False, return_inferencedata=True,
            idata_kwargs={"log_likelihood": False},
        )


def _strip_data_groups(idata):
    for g in ("constant_data", "observed_data", "warmup_posterior", "warmup_sample_stats",
              "unconstrained_posterior"):
        if g in idata.groups():
            del idata[g]
    post = idata.posterior[["W", "b"]]
    post.attrs = {}
    idata.posterior = post
    return idata


#: how each back-end's randomness derives from the root seed (recorded in every posterior's attrs)
SEED_RULES = {
    "pymc": "comparisons.theory.streams: chain k starts at a prior draw from child_rng(seed, 'bayes', 'nuts', n, "
            "'chain', k); pm.sample(random_seed=child_seed(seed, 'bayes', 'nuts', n, 'sampler')); "
            "data = sample_inputs(n_max, c, seed)[:n] (stream child_rng(seed, 'data'))",
    "nutpie": "comparisons.theory.streams: nutpie.sample(seed=child_seed(seed, 'bayes', 'nuts', n, 'sampler')), "
              "prior initialisation inside nutpie; data = sample_inputs(n_max, c, seed)[:n] "
              "(stream child_rng(seed, 'data'))",
}


def derived_draws(W: np.ndarray, b: np.ndarray, x: np.ndarray | None, *, features: int, hidden: int = 2,
                  rule: str = OCCUPANCY_RULE) -> dict[str, np.ndarray]:
    """Per-draw invariants of draws ``W (..., r, c)``, ``b (..., c)``: what a phase reading needs.

    Returns ``empirical_loss`` ``L_n`` on ``x`` (left out when ``x`` is None, e.g. for a
    population posterior), ``population_loss`` ``L``, ``phase`` (label of
    :func:`comparisons.theory.classify` with ``rule``, the hull rule's structure counted by its
    compiled twin :mod:`bayes_tms.classify_kernel`; ``"unclassified"`` for ``r != 2``) and
    ``phase_distance``, each of shape ``(...)``.
    """
    out = {}
    if x is not None:
        if is_onehot(x):
            out["empirical_loss"] = empirical_loss_onehot(W, b, onehot_summary(x))
        else:
            flat_W, flat_b = W.reshape((-1,) + W.shape[-2:]), b.reshape((-1, b.shape[-1]))
            out["empirical_loss"] = np.array([empirical_loss(w, v, x) for w, v in zip(flat_W, flat_b)]
                                             ).reshape(W.shape[:-2])
    out["population_loss"] = population_loss(W, b)
    if hidden == 2 and rule == "hull":  # the compiled twin of the hull count: the same labels, faster
        from .classify_kernel import classify_hull_compiled

        labels, dist = classify_hull_compiled(W, b, enumerate_phases(features, hidden))
    elif hidden == 2:
        labels, dist = classify(W, b, enumerate_phases(features, hidden), rule=rule)
    else:
        labels, dist = np.full(W.shape[:-2], "unclassified"), np.full(W.shape[:-2], np.nan)
    out["phase"] = np.asarray(labels, dtype=str)
    out["phase_distance"] = np.asarray(dist, dtype=float)
    return out


def add_derived(idata, x, config: BayesConfig):
    """Add the per-draw derived variables and the provenance ``attrs`` to ``idata`` (in place).

    Derived (dims ``chain, draw``): ``empirical_loss`` ``L_n``, ``population_loss`` ``L``,
    ``phase`` (label from :func:`comparisons.theory.classify`, ``"unclassified"`` when no phase
    is near) and ``phase_distance``. Attrs: ``n``, ``beta``, ``prior_sigma``, ``seed``,
    ``features``, ``hidden``, ``backend``, ``likelihood``, ``chains``, ``draws``, ``tune``,
    ``target_accept``, ``classifier`` (the labelling rule), ``package_version``, ``config_hash``
    (:meth:`BayesConfig.hash`), ``n_divergent``, ``initialisation``.
    """
    import xarray as xr

    post = idata.posterior
    W = post["W"].transpose("chain", "draw", "hidden", "feature").values
    b = post["b"].transpose("chain", "draw", "feature").values
    for name, value in derived_draws(W, b, x, features=config.features, hidden=config.hidden,
                                     rule=config.classifier).items():
        post[name] = xr.DataArray(value, dims=("chain", "draw"))
    n_div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else -1
    attrs = {
        "n": int(x.shape[0]), "beta": float(config.beta), "prior_sigma": float(config.prior_sigma),
        "seed": int(config.seed), "features": int(config.features), "hidden": int(config.hidden),
        "backend": config.backend, "likelihood": config.likelihood, "chains": int(config.chains),
        "draws": int(config.draws), "tune": int(config.tune),
        "target_accept": float(config.target_accept), "classifier": config.classifier,
        "package_version": package_version(),
        "config_hash": config.hash(), "n_divergent": n_div,
        "initialisation": "independent prior draws N(0, prior_sigma^2) per chain"
                          + (" (nutpie's prior initialisation)" if config.backend == "nutpie" else ""),
        "seed_rule": SEED_RULES[config.backend],
    }
    post.attrs.update(attrs)
    idata.posterior = post
    return idata


def check_posterior(idata, config: BayesConfig | None = None, n: int | None = None):
    """Validate a NUTS posterior: the posterior hand-off, then the run it must come from.

    The names, dims, label types and shared attrs are those of the one posterior contract,
    :func:`comparisons.contracts.validate_posterior` (the validator every reader of a posterior
    uses). On top of it, a posterior of a NUTS sweep must carry its provenance
    (``config_hash``, ``package_version``), the derived ``empirical_loss`` and
    ``population_loss``, finite ``W``, and, where given, the ``config``'s hash and the sample size
    ``n``. Returns the validated InferenceData; raises :class:`comparisons.errors.InputError`.
    """
    from comparisons.contracts import validate_posterior

    idata = validate_posterior(idata)
    post = idata.posterior
    for name in ("empirical_loss", "population_loss"):
        if name not in post:
            raise InputError(f"posterior.{name}: expected dims ('chain', 'draw'), got missing")
    for key in ("config_hash", "package_version"):
        if key not in post.attrs:
            raise InputError(f"posterior.attrs: expected key {key!r}, got keys {sorted(post.attrs)}")
    if config is not None and post.attrs["config_hash"] != config.hash():
        raise InputError(f"posterior: expected config hash {config.hash()}, got {post.attrs['config_hash']}")
    if n is not None and int(post.attrs["n"]) != int(n):
        raise InputError(f"posterior: expected n = {n}, got {post.attrs['n']}")
    check_finite_array("posterior.W", post["W"].values)
    return idata


def read_posterior(path, config: BayesConfig | None = None, n: int | None = None):
    """Read a posterior netCDF file fully into memory and validate it (:func:`check_posterior`)."""
    return check_posterior(str(path), config, n)


