"""Exact empirical loss for one-hot inputs in ``O(c^2 log n)`` per evaluation.

For ``x = mu e_j`` the squared error of output ``i`` is ``(t mu - ReLU(a_ij mu + b_i))^2`` with
``t = delta_ij``: a quadratic in ``mu`` on the interval where ``a_ij mu + b_i > 0`` and a constant
``t^2 mu^2`` outside. Summing over the samples of feature ``j`` therefore only needs the sorted
magnitudes of that feature, their prefix sums of ``1, mu, mu^2``, and one binary search for the
kink ``mu = -b_i / a_ij``. A ladder of nested data sets (rung ``r`` holds the first ``n_r`` rows of one
stream) is summarised once by :func:`nested_onehot_summary`: the magnitudes are sorted once per
feature and each rung keeps its own prefix sums restricted to rows ``< n_r``, so one call of
:func:`nested_loss_grad` evaluates every rung. This module is the numpy reference; the PyTensor (``bayes_tms``) and
torch (``sgd_tms``) twins are tested against it.
"""

from __future__ import annotations

__all__ = ["OneHotData", "is_onehot", "onehot_summary", "empirical_loss_onehot",
           "empirical_loss_onehot_grad", "NestedOneHot", "nested_onehot_summary", "nested_loss_grad"]

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


def _kink_ranges(a: np.ndarray, b: np.ndarray, mu: np.ndarray,
                 counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index range ``[lo, hi)`` of the sorted magnitudes of feature ``j`` on which output ``i`` fires.

    Output ``i`` fires on ``mu e_j`` iff ``a_ij mu + b_i > 0`` (strict: ``ReLU'(0) = 0``, the
    convention of :func:`bayes_tms.likelihood.onehot_loss_grad_numpy`); ``a_ij = 0`` fires on
    every sample of feature ``j`` iff ``b_i > 0``.

    Parameters
    ----------
    a : ndarray, shape (..., c, c)
        Gram matrix (output ``i``, input ``j``).
    b : ndarray, shape (..., c, 1)
    mu : ndarray, shape (c, m)
        Sorted magnitudes per feature, padded with ``+inf``.
    counts : ndarray of int, shape (c,)

    Returns
    -------
    lo, hi : ndarray of int64, shape (..., c, c)
    """
    c = mu.shape[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        root = -b / a  # +-inf or nan where a = 0: those entries are decided by the sign of b
    pos = a > 0
    neg = a < 0
    # a > 0 fires on mu > root: lo = #{mu <= root}, a right-sided search. a < 0 fires on
    # mu < root: the same search also counts a sample exactly on the kink, which is harmless: the
    # integrand and its derivatives vanish there except for the target terms (t = delta_ij), and
    # a < 0 never happens on the diagonal (a_ii = |W_i|^2 >= 0)
    query = np.moveaxis(np.broadcast_to(root, a.shape), -1, 0)
    idx = np.empty(query.shape, dtype=np.int64)
    for j in range(c):  # one sorted array per input feature
        idx[j] = np.searchsorted(mu[j], np.ascontiguousarray(query[j]), side="right")
    idx = np.minimum(np.moveaxis(idx, 0, -1), counts)  # counts broadcasts over the input axis j
    lo = np.where(pos, idx, 0)
    hi = np.where(pos, counts, np.where(neg, idx, np.where(b > 0, counts, 0)))
    return np.minimum(lo, hi), hi


def _active_sums(a: np.ndarray, b: np.ndarray, data: OneHotData) -> tuple[np.ndarray, ...]:
    """Sums of ``mu^p`` (p = 0, 1, 2) over samples of feature ``j`` with ``a_ij mu + b_i > 0``.

    ``a`` has shape ``(..., c, c)`` (output i, input j), ``b`` shape ``(..., c, 1)``.
    """
    lo, hi = _kink_ranges(a, b, data.mu, data.counts)
    # prefix[p][j, i] gathered as prefix[p].flat[j (m + 1) + i]: np.take, faster than two broadcast index arrays
    row = np.arange(data.c) * data.prefix.shape[2]
    lo, hi = lo + row, hi + row
    return tuple(np.take(data.prefix[p], hi) - np.take(data.prefix[p], lo) for p in range(3))


def _loss_grad_from_sums(W: np.ndarray, a: np.ndarray, bi: np.ndarray, sums: tuple, sumsq: np.ndarray,
                         n, grad: bool):
    """``L_n`` (and ``dL_n/dW``, ``dL_n/db``) from the active sums: the one home of the formula.

    With ``t = delta_ij`` and ``S_p`` the active sums,
    ``n L_n = sum |x|^2 + sum_ij [a^2 S_2 + 2 a b S_1 + b^2 S_0 - 2 t (a S_2 + b S_1)]``. The
    integrand vanishes at the kinks, so the index ranges carry no gradient:
    ``G = d(n L_n)/da = 2 (a S_2 + b S_1 - t S_2)``, ``d(n L_n)/db_i = sum_j 2 (a S_1 + b S_0 - t S_1)``
    and ``dL/dW = W (G + G^T) / n``.

    ``sumsq`` (shape ``(...)``) is ``sum_k |x_k|^2``; ``n`` broadcasts against ``(...)``.
    """
    s0, s1, s2 = sums
    # u = a S_2 + b S_1 and v = a S_1 + b S_0: the bracket is a u + b v - 2 t u, G = 2 (u - t S_2)
    # and d(n L_n)/db_i = 2 sum_j (v - t S_1); t = delta_ij only touches the diagonals
    u = a * s2 + bi * s1
    v = a * s1 + bi * s0
    n = np.asarray(n, dtype=float)
    diag_u = np.diagonal(u, axis1=-2, axis2=-1).sum(axis=-1)
    loss = (sumsq + (a * u + bi * v).sum(axis=(-2, -1)) - 2 * diag_u) / n
    if not grad:
        return loss
    gb = 2 * (v.sum(axis=-1) - np.diagonal(s1, axis1=-2, axis2=-1)) / n[..., None]
    M = u + np.swapaxes(u, -1, -2)  # (G + G^T) / 2 off the diagonal
    d = np.arange(a.shape[-1])
    M[..., d, d] -= 2 * s2[..., d, d]
    gW = (2 / n[..., None, None]) * (W @ M)  # M is symmetric: (W M)_rk = sum_j W_rj M_jk
    return loss, gW, gb


def _check_params(W, b, c: int) -> tuple[np.ndarray, np.ndarray]:
    W = np.asarray(W, dtype=float)
    b = np.asarray(b, dtype=float)
    if W.ndim < 2 or W.shape[-1] != c or b.shape[-1:] != (c,):
        raise InputError(f"W, b: expected shapes (..., r, {c}) and (..., {c}), got {W.shape} and {b.shape}")
    return W, b


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
    W, b = _check_params(W, b, data.c)
    a = gram(W)
    bi = b[..., :, None]
    total_sq = data.prefix[2, np.arange(data.c), data.counts].sum()  # sum_k |x_k|^2
    return _loss_grad_from_sums(W, a, bi, _active_sums(a, bi, data), total_sq, data.n, grad=False)


def empirical_loss_onehot_grad(W: np.ndarray, b: np.ndarray,
                               data: OneHotData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact ``L_n`` and its gradient for one-hot data, batched over leading dimensions.

    Parameters
    ----------
    W : array_like, shape (..., r, c)
    b : array_like, shape (..., c)
    data : OneHotData
        From :func:`onehot_summary`.

    Returns
    -------
    loss : ndarray, shape (...)
    dW : ndarray, shape (..., r, c)
        ``dL_n/dW``.
    db : ndarray, shape (..., c)
        ``dL_n/db``.

    Notes
    -----
    ``ReLU'(0) = 0``: a sample exactly on a kink is inactive (as in
    :func:`bayes_tms.likelihood.onehot_loss_grad_numpy`). The loss is continuous at the kinks,
    so this is the gradient almost everywhere.

    Examples
    --------
    >>> import numpy as np
    >>> from comparisons.theory import sample_inputs, empirical_loss_grad
    >>> x = sample_inputs(300, 4, 0)
    >>> W, b = np.random.default_rng(1).normal(size=(2, 4)), np.full(4, -0.1)
    >>> L, gW, gb = empirical_loss_onehot_grad(W, b, onehot_summary(x))
    >>> bool(np.allclose(gW, empirical_loss_grad(W, b, x)[0]))
    True
    """
    W, b = _check_params(W, b, data.c)
    a = gram(W)
    bi = b[..., :, None]
    total_sq = data.prefix[2, np.arange(data.c), data.counts].sum()
    return _loss_grad_from_sums(W, a, bi, _active_sums(a, bi, data), total_sq, data.n, grad=True)


@dataclass(frozen=True)
class NestedOneHot:
    """Sufficient statistics of the nested data sets ``x[:n_r]``, ``r = 0 .. R-1``, of one stream.

    Attributes
    ----------
    ns : ndarray of int, shape (R,)
        Rung sizes (any order, each ``1 <= n_r <= N_max``).
    c : int
    mu : ndarray, shape (c, m)
        Magnitudes of all ``N_max`` rows of feature ``j`` sorted ascending, padded with ``+inf``.
    counts : ndarray of int, shape (c,)
        Number of rows of feature ``j`` among all ``N_max`` rows.
    prefix : ndarray, shape (R, c, m + 1, 3)
        ``prefix[r, j, t, p] = sum_{s < t, row(j, s) < n_r} mu[j, s]^p``: the prefix sums of rung
        ``r`` over the common sorted order, restricted to the rung's rows.
    sumsq : ndarray, shape (R,)
        ``sum_{k < n_r} |x_k|^2``.
    """

    ns: np.ndarray
    c: int
    mu: np.ndarray
    counts: np.ndarray
    prefix: np.ndarray
    sumsq: np.ndarray


def nested_onehot_summary(x: np.ndarray, ns) -> NestedOneHot:
    """Summarise one-hot data ``x[N_max, c]`` for the rungs ``x[:n]``, ``n`` in ``ns``.

    Parameters
    ----------
    x : array_like, shape (N_max, c)
        One-hot rows ``mu e_j`` (all-zero rows are counted under feature 0, as in
        :func:`onehot_summary`).
    ns : sequence of int, length R
        Rung sizes, ``1 <= n <= N_max``.

    Returns
    -------
    NestedOneHot
    """
    x = np.asarray(x, dtype=float)
    if not is_onehot(x):
        raise InputError("x: expected one-hot rows x = mu e_i with mu >= 0")
    N, c = x.shape
    ns_arr = np.asarray(ns)
    if ns_arr.ndim != 1 or ns_arr.size == 0 or not np.issubdtype(ns_arr.dtype, np.integer):
        raise InputError(f"ns: expected a non-empty list of integers, got {ns!r}")
    if ns_arr.min() < 1 or ns_arr.max() > N:
        raise InputError(f"ns: expected sizes in [1, {N}] (the rows of x), got {ns_arr.tolist()}")
    ns_arr = ns_arr.astype(np.int64)
    feature = np.argmax(x, axis=1)
    mags = x[np.arange(N), feature]
    counts = np.bincount(feature, minlength=c)
    m = int(counts.max())
    R = ns_arr.size
    mu = np.full((c, m), np.inf)
    prefix = np.zeros((R, c, m + 1, 3))
    for j in range(c):
        rows = np.flatnonzero(feature == j)
        order = np.argsort(mags[rows], kind="stable")
        rows = rows[order]
        mu[j, : rows.size] = mags[rows]
        inside = rows[None, :] < ns_arr[:, None]  # (R, n_j)
        powers = mags[rows][None, :, None] ** np.arange(3)  # (1, n_j, 3)
        prefix[:, j, 1 : rows.size + 1] = np.cumsum(powers * inside[..., None], axis=1)
        prefix[:, j, rows.size + 1 :] = prefix[:, j, rows.size : rows.size + 1]
    sumsq = prefix[:, np.arange(c), counts, 2].sum(axis=1)
    return NestedOneHot(ns=ns_arr, c=c, mu=mu, counts=counts, prefix=prefix, sumsq=sumsq)


def nested_loss_grad(W: np.ndarray, b: np.ndarray, nested: NestedOneHot, grad: bool = True):
    """Exact ``L_{n_r}`` (and gradient) of every rung in one vectorised call.

    Parameters
    ----------
    W : array_like, shape (..., R, r, c)
        Axis ``-3`` indexes the rung: ``W[..., k, :, :]`` is evaluated on ``x[:ns[k]]``.
    b : array_like, shape (..., R, c)
    nested : NestedOneHot
        From :func:`nested_onehot_summary`.
    grad : bool
        Return the gradient too.

    Returns
    -------
    loss : ndarray, shape (..., R)
    dW : ndarray, shape (..., R, r, c)
        Only when ``grad``.
    db : ndarray, shape (..., R, c)
        Only when ``grad``.
    """
    W, b = _check_params(W, b, nested.c)
    R = nested.ns.size
    if W.ndim < 3 or W.shape[-3] != R or b.shape[-2:-1] != (R,):
        raise InputError(f"W, b: expected rung axis of length {R} at W[..., R, r, c] and b[..., R, c], "
                         f"got shapes {W.shape} and {b.shape}")
    a = gram(W)
    bi = b[..., :, None]
    lo, hi = _kink_ranges(a, bi, nested.mu, nested.counts)
    m1 = nested.prefix.shape[2]
    base = (np.arange(R)[:, None, None] * nested.c + np.arange(nested.c)) * m1  # (R, 1, c)
    flat = nested.prefix.reshape(-1, 3)
    S = np.take(flat, base + hi, axis=0) - np.take(flat, base + lo, axis=0)  # (..., R, c, c, 3)
    sums = (S[..., 0], S[..., 1], S[..., 2])
    return _loss_grad_from_sums(W, a, bi, sums, nested.sumsq, nested.ns, grad)
