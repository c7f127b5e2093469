"""Where every Bayesian sampler labels its draws: one function for NUTS, replica exchange and SMC.

The labelling rule is the posterior spec's ``classifier`` (:class:`bayes_tms.config.PosteriorSpec`);
:func:`phase_labels` applies it to draws ``W, b``, :func:`derived_draws` adds the per-draw losses,
and :func:`label_posterior` writes both into a posterior with the rule in its ``attrs``. The NUTS
engine (:func:`bayes_tms.sampling.add_derived`), the replica-exchange engine
(:func:`bayes_tms.pt.sample_tms_pt`) and SMC (:func:`bayes_tms.smc.smc_log_evidence`) call these
and nothing else, so a rule is applied, and recorded, in one place for every sampler.
"""

from __future__ import annotations

__all__ = ["phase_labels", "derived_draws", "label_posterior"]

import numpy as np

from comparisons.theory import (classify, empirical_loss, empirical_loss_onehot, enumerate_phases, is_onehot,
                                onehot_summary, population_loss)


def phase_labels(W: np.ndarray, b: np.ndarray, spec) -> tuple[np.ndarray, np.ndarray]:
    """Phase label and distance of every draw ``W (..., r, c)``, ``b (..., c)`` under ``spec.classifier``.

    ``spec``: a :class:`bayes_tms.config.PosteriorSpec` (any of the sampler configs). Returns
    ``(labels (...) str, distance (...) float)``: the labels of :func:`comparisons.theory.classify`
    over the k-gon phases of ``spec.features`` (the hull rule's structure counted by its compiled twin
    :mod:`bayes_tms.classify_kernel`); ``"unclassified"`` and NaN when ``r != 2`` (no
    enumeration to classify against).
    """
    if spec.hidden == 2 and spec.classifier == "hull":  # the compiled twin of the hull count: same labels
        from .classify_kernel import classify_hull_compiled

        labels, dist = classify_hull_compiled(W, b, enumerate_phases(spec.features, spec.hidden))
    elif spec.hidden == 2:
        labels, dist = classify(W, b, enumerate_phases(spec.features, spec.hidden), rule=spec.classifier)
    else:
        labels, dist = np.full(W.shape[:-2], "unclassified"), np.full(W.shape[:-2], np.nan)
    return np.asarray(labels, dtype=str), np.asarray(dist, dtype=float)


def derived_draws(W: np.ndarray, b: np.ndarray, x: np.ndarray | None, spec) -> dict[str, np.ndarray]:
    """Per-draw invariants of draws ``W (..., r, c)``, ``b (..., c)``: what a phase reading needs.

    Returns ``empirical_loss`` ``L_n`` on ``x`` (left out when ``x`` is None, e.g. for a
    population posterior), ``population_loss`` ``L``, ``phase`` and ``phase_distance``
    (:func:`phase_labels` with ``spec.classifier``), each of shape ``(...)``.
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
    out["phase"], out["phase_distance"] = phase_labels(W, b, spec)
    return out


def label_posterior(post, x: np.ndarray | None, spec):
    """Add the per-draw derived variables (dims ``chain, draw``) and ``attrs["classifier"]`` to a
    posterior group ``post`` (an :class:`xarray.Dataset` with ``W``, ``b``); returns it.

    ``x``: the data set of this ``n`` (None for a population posterior).
    """
    import xarray as xr

    W = post["W"].transpose("chain", "draw", "hidden", "feature").values
    b = post["b"].transpose("chain", "draw", "feature").values
    for name, value in derived_draws(W, b, x, spec).items():
        post[name] = xr.DataArray(value, dims=("chain", "draw"))
    post.attrs["classifier"] = spec.classifier
    return post
