"""Local learning coefficient by exact MCMC: NUTS on the localised tempered posterior.

``lambda_hat(w*) = n beta* (E[L_n(w)] - L_n(w*))`` (Lau et al., arXiv 2308.12108), the expectation
over ``p(w) ∝ exp(-n beta* L_n(w) - (gamma / 2) |w - w*|^2)``, ``beta* = 1 / log n``. NUTS samples
this density exactly (no step-size bias, unlike SGLD); the estimate is biased only by the
localisation and by ``n beta*`` being finite. By default the target is restricted to the basin of
``w*`` (:mod:`bayes_tms.llc.basin`): at a saddle the unrestricted density escapes to a lower-loss
phase at large ``n``.
"""

from __future__ import annotations

__all__ = ["nuts_llc", "loss_llc"]

from typing import Callable

import numpy as np

from comparisons.errors import InputError, check_finite_array, check_positive_int
from comparisons.theory.streams import root_sequence
from comparisons.theory import LLCEstimate

from .basin import basin_roles, resolve_restrict
from .config import NUTSLLCConfig, resolve_backend
from .localised import MODEL_CACHE, estimate_from_model, loss_model, prepared_model, tms_model


def nuts_llc(W0, b0, x, config: NUTSLLCConfig | None = None, *, gamma: float | None = None,
             nbeta: float | None = None, beta: float | None = None, chains: int | None = None,
             draws: int | None = None, warmup: int | None = None, seed: int | np.random.SeedSequence | None = None,
             backend: str | None = None, progress: bool = False, target_accept: float | None = None,
             cores: int | None = None, restrict: str | None = "auto") -> LLCEstimate:
    """LLC of the TMS loss at ``w* = (W0, b0)`` by NUTS on the localised tempered posterior.

    Parameters
    ----------
    W0 : array_like, shape (r, c)
        Centre ``w*``: weights.
    b0 : array_like, shape (c,)
        Centre ``w*``: biases.
    x : array_like, shape (n, c)
        Data (the targets are the inputs); one-hot rows ``mu e_j`` select the exact fast
        likelihood automatically. ``n >= 2``.
    config : NUTSLLCConfig, optional
        The settings (default ``NUTSLLCConfig()``); the keywords below, where given (not None),
        replace its fields.
    gamma : float
        Localisation strength (> 0; default 1).
    nbeta : float, optional
        ``n beta`` itself (``NUTSLLCConfig.fixed_nbeta``); default ``n beta`` from ``beta``.
    beta : float, optional
        Inverse temperature; default ``beta* = 1 / log n``. Not with ``nbeta``.
    chains, draws, warmup : int
        NUTS chains (each started at ``w*``), kept draws and warm-up steps per chain (default
        4, 1000, 1000).
    seed : int or numpy.random.SeedSequence
        Root of the sampler's randomness (default 0). An int is the config's ``seed``; a
        ``SeedSequence`` is used as the stream itself (the config keeps its own ``seed``).
    backend : {"auto", "pymc", "nutpie"}
        ``"auto"`` (default): nutpie when installed, else PyMC.
    progress : bool
        Show the sampler's progress bar.
    target_accept : float
        NUTS step-size adaptation target (default 0.9).
    cores : int, optional
        Parallel chains (default ``min(chains, 2)``; PyMC with one core avoids process start-up).
    restrict : {"auto", "basin", None}
        ``"basin"``: sample the localised posterior restricted to the basin of ``w*`` (every
        column keeps its role; ``-inf`` log density outside; module docstring). ``None``: the
        unrestricted density. ``"auto"`` (default): ``"basin"`` when ``w*`` is a classified phase
        (``r = 2``), else ``None``.

    Returns
    -------
    LLCEstimate
        ``llc``, ``se`` (from the ESS of the ``L_n`` trace), ``trace (chain, draw)``, the
        settings (``nbeta`` resolved once by :meth:`NUTSLLCConfig.nbeta`; ``warmup``,
        ``target_accept`` and ``backend`` in the diagnostics), ``restrict`` and
        ``basin_fraction`` (draws inside the basin of ``w*``).

    Notes
    -----
    ``lambda_hat = n beta* (E[L_n] - L_n(w*))`` over ``exp(-n beta* L_n(w) - gamma |w - w*|^2 / 2)``
    (no prior term). Compiled models are cached per (likelihood, back-end, r, c): repeated calls
    pay only for sampling.

    Examples
    --------
    >>> from comparisons.theory import enumerate_phases, sample_inputs
    >>> p = next(q for q in enumerate_phases(6) if q.label == "6")
    >>> est = nuts_llc(p.W, p.b, sample_inputs(10_000, 6, 0), draws=300, warmup=300)  # doctest: +SKIP
    >>> abs(est.llc - p.llc) < 3 * est.se + 0.1 * p.llc  # doctest: +SKIP
    True
    """
    from ..model import check_data, model_data, resolve_likelihood

    cfg, ss = _config(config, seed, gamma=gamma, nbeta=nbeta, beta=beta, chains=chains, draws=draws,
                      warmup=warmup, backend=backend, target_accept=target_accept)
    backend = resolve_backend(cfg.backend)
    W0 = check_finite_array("W0", W0)
    b0 = check_finite_array("b0", b0)
    if W0.ndim != 2 or b0.ndim != 1 or b0.shape[0] != W0.shape[1]:
        raise InputError(f"w*: expected W0 of shape (r, c) and b0 of shape (c,), got {W0.shape} and {b0.shape}")
    x = check_data(x)
    if x.shape[1] != W0.shape[1]:
        raise InputError(f"x: expected {W0.shape[1]} features (columns of W0), got {x.shape[1]}")
    n = check_positive_int("n (rows of x)", x.shape[0], minimum=2)
    nb = cfg.nbeta(n)
    kind = resolve_likelihood(x, "auto")
    r, c = W0.shape
    restrict = resolve_restrict(restrict, W0, b0)
    roles = basin_roles(W0, b0)
    data = dict(model_data(x, kind))
    data.update(W0=W0, b0=b0, nbeta=np.asarray(nb), scale=np.asarray(float(cfg.gamma) ** -0.5))
    if restrict:
        data["roles"] = roles
    loss0 = _tms_loss(W0, b0, x)

    def run(be: str) -> LLCEstimate:
        prepared = prepared_model(("tms", kind, be, r, c, restrict),
                             lambda: tms_model(kind, r, c, data, restrict=bool(restrict)), be, data)
        return estimate_from_model(prepared, be, n=n, nbeta=nb, gamma=float(cfg.gamma), loss_at_center=loss0,
                         chains=cfg.chains, draws=cfg.draws, warmup=cfg.warmup, ss=ss, progress=progress,
                         target_accept=float(cfg.target_accept), cores=cores or min(cfg.chains, 2),
                         restrict=restrict, basin=(W0, b0, roles))

    try:
        return run(backend)
    except RuntimeError as exc:
        # nutpie sometimes refuses to start inside the restricted basin with several dead columns
        # ("All initialization points failed", seen for the 5-gon at c = 7 with >= 4 chains);
        # PyMC starts every chain at w* and samples the same target
        if backend != "nutpie" or "initialization" not in str(exc):
            raise
        return run("pymc")


def _config(config: NUTSLLCConfig | None, seed, **values) -> tuple[NUTSLLCConfig, np.random.SeedSequence]:
    """The settings of one NUTS estimate from ``config`` and the keywords given, and its stream.

    A ``SeedSequence`` seed is the stream itself; an int seed is the config's ``seed``.
    """
    if config is not None and not isinstance(config, NUTSLLCConfig):
        raise InputError(f"config: expected a NUTSLLCConfig, got {type(config).__name__}")
    stream = seed if isinstance(seed, np.random.SeedSequence) else None
    cfg = NUTSLLCConfig.from_kwargs(config, seed=None if stream is not None else seed, **values)
    return cfg, root_sequence(stream if stream is not None else cfg.seed)


def _tms_loss(W0: np.ndarray, b0: np.ndarray, x: np.ndarray) -> float:
    from comparisons.theory import empirical_loss, empirical_loss_onehot, is_onehot, onehot_summary

    if is_onehot(x):
        return float(empirical_loss_onehot(W0, b0, onehot_summary(x)))
    return float(empirical_loss(W0, b0, x))


def loss_llc(loss_fn: Callable, w0, config: NUTSLLCConfig | None = None, *, n: int,
             gamma: float | None = None, nbeta: float | None = None, beta: float | None = None,
             chains: int | None = None, draws: int | None = None, warmup: int | None = None,
             seed: int | np.random.SeedSequence | None = None, backend: str | None = None,
             progress: bool = False, target_accept: float | None = None, cores: int | None = None,
             name: str | None = None) -> LLCEstimate:
    """LLC of a generic loss ``K(w)`` at ``w0`` by NUTS (the engine of :func:`nuts_llc`).

    Parameters
    ----------
    loss_fn : callable
        Maps a PyTensor vector ``w`` of length ``d`` to a scalar PyTensor expression ``K(w)``
        (e.g. ``lambda w: (w ** 2).sum()``); it plays the role of ``L_n``.
    w0 : array_like, shape (d,)
        Centre ``w*``.
    n : int
        The sample size the temperature refers to (``n >= 2``; ``nbeta`` defaults to ``n / log n``).
    name : str, optional
        Key of the compiled-model cache; give one per distinct ``loss_fn`` to reuse compilation
        across calls (default: no caching).

    Returns
    -------
    LLCEstimate
        With ``lambda_hat = nbeta (E[K] - K(w0))``.

    Notes
    -----
    The other parameters are those of :func:`nuts_llc`.
    """
    cfg, ss = _config(config, seed, gamma=gamma, nbeta=nbeta, beta=beta, chains=chains, draws=draws,
                      warmup=warmup, backend=backend, target_accept=target_accept)
    backend = resolve_backend(cfg.backend)
    n = check_positive_int("n", n, minimum=2)
    nb = cfg.nbeta(n)
    w0 = check_finite_array("w0", w0).ravel()
    data = {"center": w0, "nbeta": np.asarray(nb), "scale": np.asarray(float(cfg.gamma) ** -0.5)}
    key = ("loss", name, backend, w0.size) if name is not None else ("loss", id(loss_fn), object())
    prepared = prepared_model(key, lambda: loss_model(loss_fn, w0.size), backend, data)
    if name is None:
        MODEL_CACHE.discard(key)
    import pytensor
    import pytensor.tensor as pt

    w = pt.vector("w")
    loss0 = float(pytensor.function([w], loss_fn(w))(w0))
    return estimate_from_model(prepared, backend, n=n, nbeta=nb, gamma=float(cfg.gamma), loss_at_center=loss0,
                     chains=cfg.chains, draws=cfg.draws, warmup=cfg.warmup, ss=ss, progress=progress,
                     target_accept=float(cfg.target_accept), cores=cores or min(cfg.chains, 2))
