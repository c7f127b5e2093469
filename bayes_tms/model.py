"""The TMS posterior as a PyMC model built from a data array.

``p(W, b | D_n) ∝ N(W, b; 0, prior_sigma^2) exp(-n beta L_n(W, b))`` (``docs/study.md``
section 4), with ``W`` of dims ``(hidden, feature)`` and ``b`` of dims ``(feature,)``. The
likelihood enters through ``pm.Potential("loglik", -n beta L_n)``; its data live in ``pm.Data``
containers so that one compiled model serves every ``n`` (:func:`model_data` gives the arrays for
``pm.set_data`` or ``nutpie``'s ``with_data``).
"""

from __future__ import annotations

__all__ = ["build_model", "model_data", "resolve_likelihood", "check_data"]

import numpy as np

from comparisons.config_file import check_positive_float
from comparisons.errors import InputError, check_finite_array, check_positive_int
from comparisons.theory import is_onehot

from .likelihood import LIKELIHOODS, dense_loss, onehot_arrays, onehot_loss_fused


def check_data(x) -> np.ndarray:
    """Validate a data array ``x[n, c]`` (finite, 2-D, n >= 1, c >= 2) and return it as floats."""
    x = check_finite_array("x", x)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 2:
        raise InputError(f"x: expected an array of shape (n >= 1, c >= 2), got shape {x.shape}")
    return x


def resolve_likelihood(x: np.ndarray, likelihood: str = "auto") -> str:
    """``"onehot"`` or ``"dense"``: ``"auto"`` picks the exact fast one-hot likelihood when it applies."""
    if likelihood not in LIKELIHOODS:
        raise InputError(f"likelihood: expected one of {', '.join(LIKELIHOODS)}, got {likelihood!r}")
    onehot = is_onehot(x)
    if likelihood == "onehot" and not onehot:
        raise InputError("likelihood: expected one-hot data for 'onehot', got rows with several non-zeros")
    if likelihood == "auto":
        return "onehot" if onehot else "dense"
    return likelihood


def model_data(x, likelihood: str = "auto") -> dict[str, np.ndarray]:
    """The ``pm.Data`` values that represent ``x`` in a model built with ``likelihood``."""
    x = check_data(x)
    kind = resolve_likelihood(x, likelihood)
    if kind == "onehot":
        return onehot_arrays(x).as_data()
    return {"x": x, "n_obs": np.asarray(float(x.shape[0]))}


def build_model(x, *, hidden: int = 2, beta: float = 1.0, prior_sigma: float = 1.0,
                likelihood: str = "auto"):
    """PyMC model of the tempered TMS posterior for data ``x``.

    Parameters
    ----------
    x : array_like, shape (n, c)
        Inputs (the targets are the inputs). One-hot rows ``mu e_j`` select the exact fast
        likelihood when ``likelihood="auto"``.
    hidden : int
        ``r``, the hidden dimension.
    beta : float
        Inverse temperature (``beta = 1``: Gaussian observation noise of scale ``1/sqrt(2)``).
    prior_sigma : float
        Scale of the ``N(0, prior_sigma^2)`` prior on every entry of ``W`` and ``b``.
    likelihood : {"auto", "dense", "onehot"}

    Returns
    -------
    pymc.Model
        Free variables ``W`` (dims ``hidden, feature``) and ``b`` (dims ``feature``), potential
        ``loglik = -n beta L_n(W, b)``; the model's log density is
        ``log N(W, b; 0, prior_sigma^2) - n beta L_n(W, b)``.

    Examples
    --------
    >>> from comparisons.theory import sample_inputs
    >>> m = build_model(sample_inputs(100, 4, 0))
    >>> sorted(m.named_vars_to_dims["W"])
    ['feature', 'hidden']
    """
    import pymc as pm

    x = check_data(x)
    hidden = check_positive_int("hidden", hidden)
    beta = check_positive_float("beta", beta)
    prior_sigma = check_positive_float("prior_sigma", prior_sigma)
    kind = resolve_likelihood(x, likelihood)
    c = x.shape[1]
    coords = {"hidden": np.arange(hidden), "feature": np.arange(c)}
    with pm.Model(coords=coords) as model:
        data = {name: pm.Data(name, value) for name, value in model_data(x, kind).items()}
        # float64 arrays: PyTensor would store a plain Python 2.0 as a float32 constant
        sigma = np.asarray(prior_sigma, dtype="float64")
        W = pm.Normal("W", 0.0, sigma, dims=("hidden", "feature"))
        b = pm.Normal("b", 0.0, sigma, dims="feature")
        if kind == "onehot":
            loss = onehot_loss_fused(W, b, data["oh_mu"], data["oh_prefix"], data["oh_start"],
                                     data["oh_end"], data["oh_sumsq"], data["n_obs"])
        else:
            loss = dense_loss(W, b, data["x"], data["n_obs"])
        pm.Potential("loglik", -data["n_obs"] * np.asarray(beta, dtype="float64") * loss)
    model.tms_likelihood = kind  # read by the sampler and the benchmark
    return model
