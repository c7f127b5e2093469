"""Empirical TMS loss ``L_n(W, b)`` for PyMC: dense and exact one-hot fast.

Two twins of the numpy reference in :mod:`comparisons.theory`:

- :func:`dense_loss` is ``(1/n) sum_k |x_k - ReLU(W^T W x_k + b)|^2`` for any data, cost
  ``O(n c^2)`` per evaluation (twin of :func:`comparisons.theory.empirical_loss`).
- :func:`onehot_loss_fused` is exact for one-hot inputs ``x = mu e_j`` and costs
  ``O(c^2 log n)`` (twin of :func:`comparisons.theory.empirical_loss_onehot`): the per-sample
  loss of output ``i`` is a quadratic in ``mu`` on the side of the kink ``mu = -b_i / a_ij`` where
  the unit fires and ``mu^2 delta_ij`` on the other side, so the sum over the samples of feature
  ``j`` needs only the sorted magnitudes, their prefix sums of ``1, mu, mu^2`` and one binary
  search per kink. It is one PyTensor node (:mod:`bayes_tms.fused_op`, which this module imports
  on first use; the op never imports this module).

Both use the convention ``ReLU'(0) = 0`` (a sample exactly on a kink is inactive), so their
gradients agree even where a kink sits exactly on a data point.
"""

from __future__ import annotations

__all__ = ["OneHotArrays", "onehot_arrays", "dense_loss", "onehot_loss_fused", "register_numba", "LIKELIHOODS"]

from dataclasses import dataclass

import numpy as np

from comparisons.theory import onehot_summary

#: names of the likelihood implementations accepted by :func:`bayes_tms.build_model`
LIKELIHOODS = ("auto", "dense", "onehot")


@dataclass(frozen=True)
class OneHotArrays:
    """Flat sufficient statistics of one-hot data, laid out for the fused op's searches.

    Attributes
    ----------
    n, c : int
    mu : ndarray, shape (n,)
        Magnitudes grouped by feature (feature-major) and sorted within each feature.
    prefix : ndarray, shape (n + 1, 3)
        ``prefix[t, p] = sum_{s < t} mu_s^p`` along the flat (feature-major, sorted) order.
    start, end : ndarray of int64, shape (c,)
        Flat index range ``[start_j, end_j)`` of feature ``j``.
    sumsq : float
        ``sum_k |x_k|^2``.
    """

    n: int
    c: int
    mu: np.ndarray
    prefix: np.ndarray
    start: np.ndarray
    end: np.ndarray
    sumsq: float

    def as_data(self) -> dict[str, np.ndarray]:
        """The arrays under the names of the model's ``pm.Data`` containers."""
        return {"oh_mu": self.mu, "oh_prefix": self.prefix, "oh_start": self.start,
                "oh_end": self.end, "oh_sumsq": np.asarray(self.sumsq), "n_obs": np.asarray(float(self.n))}


def onehot_arrays(x: np.ndarray) -> OneHotArrays:
    """Summarise one-hot data ``x[n, c]`` (rows ``mu e_j``, ``mu >= 0``) for :func:`onehot_loss_fused`.

    All-zero rows are counted under feature 0 (their loss does not depend on the feature).
    """
    summary = onehot_summary(x)  # validates; magnitudes sorted per feature (the numpy twin's layout)
    n, c, counts = summary.n, summary.c, summary.counts
    mu = np.concatenate([summary.mu[j, :counts[j]] for j in range(c)])
    end = np.cumsum(counts).astype(np.int64)
    start = (end - counts).astype(np.int64)
    prefix = np.zeros((n + 1, 3))
    prefix[1:] = np.cumsum(mu[:, None] ** np.arange(3), axis=0)
    return OneHotArrays(n=n, c=c, mu=mu, prefix=prefix, start=start, end=end,
                        sumsq=float(np.sum(mu**2)))


def dense_loss(W, b, x, n=None):
    """Dense ``L_n`` as a PyTensor expression.

    Parameters
    ----------
    W : TensorVariable, shape (r, c)
    b : TensorVariable, shape (c,)
    x : TensorVariable, shape (n, c)
    n : TensorVariable or float, optional
        The divisor (defaults to ``x.shape[0]``).

    Returns
    -------
    TensorVariable, scalar
    """
    import pytensor.tensor as pt

    pre = x @ (W.T @ W) + b[None, :]  # a is symmetric: (x a)[k, i] = sum_j a_ij x_kj
    out = pt.switch(pre > 0, pre, 0.0)  # ReLU with ReLU'(0) = 0
    if n is None:
        n = x.shape[0]
    return pt.sum((x - out) ** 2) / n


def onehot_loss_fused(W, b, mu, prefix, start, end, sumsq, n):
    """Exact one-hot ``L_n`` as one fused PyTensor node (C code; numba via :func:`register_numba`).

    ``n L_n = sum |x|^2 + sum_ij [a^2 S_2 + 2 a b S_1 + b^2 S_0 - 2 t (a S_2 + b S_1)]`` with
    ``t = delta_ij`` and ``S_p`` the sum of ``mu^p`` over the samples of feature ``j`` on which
    output ``i`` fires; inputs as in :class:`OneHotArrays`. The op lives in
    :mod:`bayes_tms.fused_op`, imported here on first use (it needs PyTensor).
    """
    from .fused_op import OneHotLossGrad

    return OneHotLossGrad()(W, b, mu, prefix, start, end, sumsq, n)[0]


def register_numba() -> None:
    """Register the numba implementation of the fused op (the nutpie back-end needs it)."""
    from .fused_op import register_numba as register

    register()
