"""Exact empirical loss for one-hot inputs in ``O(c^2 log n)`` per evaluation.

For ``x = mu e_j`` the squared error of output ``i`` is ``(t mu - ReLU(a_ij mu + b_i))^2`` with
``t = delta_ij``: a quadratic in ``mu`` on the interval where ``a_ij mu + b_i > 0`` and a constant
``t^2 mu^2`` outside. Summing over the samples of feature ``j`` therefore only needs the sorted
magnitudes of that feature, their prefix sums of ``1, mu, mu^2``, and one binary search for the
kink ``mu = -b_i / a_ij``. This module is the numpy reference; the PyTensor (``bayes_tms``) and
torch (``sgd_tms``) twins are tested against it.
"""

from __future__ import annotations

__all__ = ["OneHotData", "is_onehot", "onehot_summary", "empirical_loss_onehot"]

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .potential import gram


@dataclass(frozen=True)
class OneHotData:
    """Sufficient statistics of a one-hot data set ``x[n, c]``.

    Attributes
    ----------
    n, c : int
    mu : ndarray, shape (c, m)
        Row ``j``: the magnitudes of the samples of feature ``j`` sorted ascending, padded with
        ``+inf`` up to ``m = max_j n_j`` (padding is never inside an active interval of [0, 1]...
        it sorts last and the prefix sums stop growing there).
    counts : ndarray of int, shape (c,)
        ``n_j``, the number of samples of feature ``j``.
    prefix : ndarray, shape (3, c, m + 1)
        ``prefix[p, j, t] = sum_{s < t} mu[j, s]^p`` (constant past ``n_j``).
    """

    n: int
    c: int
    mu: np.ndarray
    counts: np.ndarray
    prefix: np.ndarray


def is_onehot(x: np.ndarray) -> bool:
    """True when every row of ``x[n, c]`` has at most one non-zero entry, and it is positive."""
    x = np.asarray(x)
    return bool(x.ndim == 2 and np.all((x != 0).sum(axis=1) <= 1) and np.all(x >= 0))


def onehot_summary(x: np.ndarray) -> OneHotData:
    """Sort the magnitudes of one-hot data ``x[n, c]`` by feature and build prefix sums.

    All-zero rows (``mu = 0``) are assigned to feature 0; they contribute the same loss whichever
    feature they are counted under only if ``b`` is unchanged, so they are kept exact: a zero row
    is ``mu = 0`` on any feature, and the loss of ``mu = 0`` does not depend on the feature.
    """
    x = np.asarray(x, dtype=float)
    if not is_onehot(x):
        raise InputError("x: expected one-hot rows x = mu e_i with mu >= 0")
    n, c = x.shape
    feature = np.argmax(x, axis=1)
    mags = x[np.arange(n), feature]
    counts = np.bincount(feature, minlength=c)
    m = int(counts.max()) if n else 0
    mu = np.full((c, m), np.inf)
    for j in range(c):
        mu[j, : counts[j]] = np.sort(mags[feature == j])
    finite = np.where(np.isfinite(mu), mu, 0.0)
    prefix = np.zeros((3, c, m + 1))
    for p in range(3):
        prefix[p, :, 1:] = np.cumsum(finite**p * np.isfinite(mu), axis=1)
    return OneHotData(n=n, c=c, mu=mu, counts=counts, prefix=prefix)


def _active_sums(a: np.ndarray, b: np.ndarray, data: OneHotData) -> tuple[np.ndarray, ...]:
    """Sums of ``mu^p`` (p = 0, 1, 2) over samples of feature ``j`` with ``a_ij mu + b_i > 0``.

    ``a`` has shape ``(..., c, c)`` (output i, input j), ``b`` shape ``(..., c, 1)``.
    """
    c = data.c
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(a != 0, -b / np.where(a != 0, a, 1.0), 0.0)
    root = np.broadcast_to(root, a.shape)
    idx = np.empty(a.shape, dtype=np.int64)
    for j in range(c):  # one sorted array per input feature
        idx[..., j] = np.searchsorted(data.mu[j], root[..., j], side="right")
    counts = data.counts  # (c,) broadcasts over the input axis j
    lo = np.where(a > 0, np.minimum(idx, counts), 0)
    hi = np.where(a > 0, counts, np.where(a < 0, np.minimum(idx, counts), np.where(b > 0, counts, 0)))
    lo = np.minimum(lo, hi)
    jj = np.arange(c)
    sums = []
    for p in range(3):
        P = data.prefix[p]  # (c, m + 1)
        sums.append(P[jj, hi] - P[jj, lo])
    return tuple(sums)


def empirical_loss_onehot(W: np.ndarray, b: np.ndarray, data: OneHotData) -> np.ndarray:
    """Exact ``L_n(W, b)`` for one-hot data summarised by :func:`onehot_summary`; shape ``(...)``.

    Examples
    --------
    >>> import numpy as np
    >>> from comparisons.theory import sample_inputs, empirical_loss
    >>> x = sample_inputs(500, 4, 0)
    >>> W, b = np.random.default_rng(1).normal(size=(2, 4)), np.full(4, -0.1)
    >>> bool(np.isclose(empirical_loss_onehot(W, b, onehot_summary(x)), empirical_loss(W, b, x)))
    True
    """
    W = np.asarray(W, dtype=float)
    b = np.asarray(b, dtype=float)
    if W.shape[-1] != data.c:
        raise InputError(f"W: expected {data.c} features, got shape {W.shape}")
    a = gram(W)
    bi = b[..., :, None]
    t = np.eye(data.c)
    s0, s1, s2 = _active_sums(a, bi, data)
    total_sq = data.prefix[2, np.arange(data.c), data.counts]  # sum of mu^2 per feature
    per = t * total_sq + a * a * s2 + 2 * a * bi * s1 + bi * bi * s0 - 2 * t * (a * s2 + bi * s1)
    return per.sum(axis=(-2, -1)) / data.n
