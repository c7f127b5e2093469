"""Empirical TMS loss ``L_n(W, b)`` as PyTensor graphs: dense and exact one-hot fast.

Two twins of the numpy reference in :mod:`comparisons.theory`:

- :func:`dense_loss` is ``(1/n) sum_k |x_k - ReLU(W^T W x_k + b)|^2`` for any data, cost
  ``O(n c^2)`` per evaluation (twin of :func:`comparisons.theory.empirical_loss`).
- :func:`onehot_loss` is exact for one-hot inputs ``x = mu e_j`` and costs ``O(c^2 log n)``
  (twin of :func:`comparisons.theory.empirical_loss_onehot`): the per-sample loss of output ``i``
  is a quadratic in ``mu`` on the side of the kink ``mu = -b_i / a_ij`` where the unit fires and
  ``mu^2 delta_ij`` on the other side, so the sum over the samples of feature ``j`` needs only the
  sorted magnitudes, their prefix sums of ``1, mu, mu^2`` and one binary search per kink.

Both use the convention ``ReLU'(0) = 0`` (a sample exactly on a kink is inactive), so their
gradients agree even where a kink sits exactly on a data point.
"""

from __future__ import annotations

__all__ = ["OneHotArrays", "onehot_arrays", "dense_loss", "onehot_loss", "onehot_loss_fused",
           "onehot_loss_grad_numpy", "register_numba", "LIKELIHOODS"]

from dataclasses import dataclass

import numpy as np

from comparisons.theory import onehot_summary

#: names of the likelihood implementations accepted by :func:`bayes_tms.build_model`
LIKELIHOODS = ("auto", "dense", "onehot")

#: gap between the blocks of features in the flat sorted array (magnitudes lie in [0, 1])
_BLOCK = 2.0


@dataclass(frozen=True)
class OneHotArrays:
    """Flat sufficient statistics of one-hot data, laid out for one vectorised search.

    Attributes
    ----------
    n, c : int
    mu : ndarray, shape (n,)
        Magnitudes grouped by feature (feature-major) and sorted within each feature.
    keys : ndarray, shape (n,)
        Sorted magnitudes of feature ``j`` shifted by ``2 j`` and concatenated over ``j``: one
        ``searchsorted`` call then serves every feature (queries are clipped to the gap).
    prefix : ndarray, shape (n + 1, 3)
        ``prefix[t, p] = sum_{s < t} mu_s^p`` along the flat (feature-major, sorted) order.
    start, end : ndarray of int64, shape (c,)
        Flat index range ``[start_j, end_j)`` of feature ``j``.
    sumsq : float
        ``sum_k |x_k|^2``.

    Notes
    -----
    The fused :class:`OneHotLossGrad` op searches ``mu`` block by block (no rounding); the
    pure-graph :func:`onehot_loss` searches ``keys``. Adding ``2 j`` rounds a magnitude to about ``1e-15``; ties between a kink and a data point
    are preserved exactly (both sides round alike), and samples closer than that to a kink
    contribute ``O(1e-30)`` to the loss.
    """

    n: int
    c: int
    mu: np.ndarray
    keys: np.ndarray
    prefix: np.ndarray
    start: np.ndarray
    end: np.ndarray
    sumsq: float

    def as_data(self) -> dict[str, np.ndarray]:
        """The arrays under the names of the model's ``pm.Data`` containers."""
        return {"oh_mu": self.mu, "oh_prefix": self.prefix, "oh_start": self.start,
                "oh_end": self.end, "oh_sumsq": np.asarray(self.sumsq), "n_obs": np.asarray(float(self.n))}


def onehot_arrays(x: np.ndarray) -> OneHotArrays:
    """Summarise one-hot data ``x[n, c]`` (rows ``mu e_j``, ``mu >= 0``) for :func:`onehot_loss`.

    All-zero rows are counted under feature 0 (their loss does not depend on the feature).
    """
    summary = onehot_summary(x)  # validates; magnitudes sorted per feature (the numpy twin's layout)
    n, c, counts = summary.n, summary.c, summary.counts
    mu = np.concatenate([summary.mu[j, :counts[j]] for j in range(c)])
    end = np.cumsum(counts).astype(np.int64)
    start = (end - counts).astype(np.int64)
    keys = mu + _BLOCK * np.repeat(np.arange(c), counts)
    prefix = np.zeros((n + 1, 3))
    prefix[1:] = np.cumsum(mu[:, None] ** np.arange(3), axis=0)
    return OneHotArrays(n=n, c=c, mu=mu, keys=keys, prefix=prefix, start=start, end=end,
                        sumsq=float(np.sum(mu**2)))


def _gram(W):
    # a[i, j] = W_i . W_j, written elementwise: PyTensor's Dot22 falls back to Python without BLAS
    return (W[:, :, None] * W[:, None, :]).sum(axis=0)


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


def onehot_loss(W, b, keys, prefix, start, end, sumsq, n, c: int):
    """Exact one-hot ``L_n`` as a PyTensor expression (see :class:`OneHotArrays` for inputs).

    ``c`` is the (static) number of features.

    Returns
    -------
    TensorVariable, scalar

    Notes
    -----
    With ``t = delta_ij`` and ``S_p`` the sum of ``mu^p`` over the samples of feature ``j`` on
    which output ``i`` fires (``a_ij mu + b_i > 0``),
    ``n L_n = sum |x|^2 + sum_ij [a^2 S_2 + 2 a b S_1 + b^2 S_0 - 2 t (a S_2 + b S_1)]``.
    The index ranges are integers (no gradient flows through them) and the integrand is continuous
    at the kinks, so the automatic gradient of this expression is the exact gradient.
    """
    import pytensor.tensor as pt
    from pytensor.tensor.extra_ops import searchsorted

    c_static = int(c)
    keys, prefix, start, end = (pt.as_tensor_variable(v) for v in (keys, prefix, start, end))
    a = _gram(W)
    bi = b[:, None]
    nz = pt.neq(a, 0)
    root = pt.switch(nz, -bi / pt.switch(nz, a, 1.0), 0.0)
    query = pt.clip(root, -0.5, 1.5) + _BLOCK * np.arange(c_static, dtype="float64")[None, :]
    idx = searchsorted(keys, query.ravel(), side="right").reshape((c_static, c_static))
    st = pt.broadcast_to(start[None, :], (c_static, c_static))
    en = pt.broadcast_to(end[None, :], (c_static, c_static))
    pos = pt.gt(a, 0)
    neg = pt.lt(a, 0)
    lo = pt.switch(pos, idx, st)
    hi = pt.switch(pos, en, pt.switch(neg, idx, pt.switch(pt.gt(bi, 0), en, st)))
    S = prefix[hi.ravel()] - prefix[lo.ravel()]  # (c*c, 3)
    S = S.reshape((c_static, c_static, 3))
    s0, s1, s2 = S[..., 0], S[..., 1], S[..., 2]
    t = np.eye(c_static)
    per = a * a * s2 + 2 * a * bi * s1 + bi * bi * s0 - 2 * t * (a * s2 + bi * s1)
    return (sumsq + pt.sum(per)) / n


# ----------------------------------------------------------------------------------------------
# The fused op: loss and exact gradient in one C (or numba) loop, O(r c^2 + c^2 log n).
# A handful of PyTensor nodes cost more than the arithmetic at this size, so the whole one-hot
# likelihood is one node; :func:`onehot_loss` above is the same formula as a plain graph.

def onehot_loss_grad_numpy(W, b, mu, prefix, start, end, sumsq, n):
    """Numpy reference of :class:`OneHotLossGrad`: ``(L_n, dL_n/dW, dL_n/db)``.

    Conventions: output ``i`` fires on sample ``mu e_j`` iff ``a_ij mu + b_i > 0`` (strict, so
    ``ReLU'(0) = 0``); ``a_ij = 0`` fires on all samples of feature ``j`` iff ``b_i > 0``.
    """
    W = np.asarray(W, dtype=float)
    b = np.asarray(b, dtype=float)
    c = W.shape[-1]
    a = W.T @ W
    G = np.zeros((c, c))
    gb = np.zeros(c)
    total = float(sumsq)
    for i in range(c):
        for j in range(c):
            aij, bi = a[i, j], b[i]
            blk = mu[start[j]:end[j]]
            if aij > 0:
                lo, hi = start[j] + np.searchsorted(blk, -bi / aij, side="right"), end[j]
            elif aij < 0:
                lo, hi = start[j], start[j] + np.searchsorted(blk, -bi / aij, side="left")
            else:
                lo, hi = (start[j], end[j]) if bi > 0 else (start[j], start[j])
            s0, s1, s2 = prefix[hi] - prefix[lo]
            t = 1.0 if i == j else 0.0
            total += aij * aij * s2 + 2 * aij * bi * s1 + bi * bi * s0 - 2 * t * (aij * s2 + bi * s1)
            G[i, j] = 2 * aij * s2 + 2 * bi * s1 - 2 * t * s2
            gb[i] += 2 * aij * s1 + 2 * bi * s0 - 2 * t * s1
    gW = W @ (G + G.T)
    return total / n, gW / n, gb / n


_C_SUPPORT = r"""
static npy_intp tms_upper(const char* base, npy_intp stride, npy_intp lo, npy_intp hi, double v) {
    /* first index in [lo, hi) with mu > v */
    while (lo < hi) { npy_intp mid = lo + (hi - lo) / 2;
        if (*(const double*)(base + mid * stride) > v) hi = mid; else lo = mid + 1; }
    return lo;
}
static npy_intp tms_lower(const char* base, npy_intp stride, npy_intp lo, npy_intp hi, double v) {
    /* first index in [lo, hi) with mu >= v */
    while (lo < hi) { npy_intp mid = lo + (hi - lo) / 2;
        if (*(const double*)(base + mid * stride) >= v) hi = mid; else lo = mid + 1; }
    return lo;
}
"""

_C_CODE = r"""
{
    PyArrayObject *W_ = %(W)s, *b_ = %(b)s, *mu_ = %(mu)s, *P_ = %(prefix)s;
    PyArrayObject *st_ = %(start)s, *en_ = %(end)s;
    const npy_intp R = PyArray_DIMS(W_)[0], C = PyArray_DIMS(W_)[1];
    #define TMS_AT(arr, T, off) (*(T*)(PyArray_BYTES(arr) + (off)))
    #define TMS_W(r, k) TMS_AT(W_, double, (r) * PyArray_STRIDES(W_)[0] + (k) * PyArray_STRIDES(W_)[1])
    #define TMS_B(k) TMS_AT(b_, double, (k) * PyArray_STRIDES(b_)[0])
    #define TMS_P(t, p) TMS_AT(P_, double, (t) * PyArray_STRIDES(P_)[0] + (p) * PyArray_STRIDES(P_)[1])
    #define TMS_I(arr, k) TMS_AT(arr, npy_int64, (k) * PyArray_STRIDES(arr)[0])
    if (PyArray_DIMS(b_)[0] != C || PyArray_DIMS(st_)[0] != C || PyArray_DIMS(en_)[0] != C) {
        PyErr_SetString(PyExc_ValueError, "OneHotLossGrad: inconsistent numbers of features");
        %(fail)s
    }
    npy_intp dimsW[2] = {R, C}, dimsb[1] = {C};
    Py_XDECREF(%(loss)s); %(loss)s = (PyArrayObject*)PyArray_ZEROS(0, NULL, NPY_FLOAT64, 0);
    if (!%(gW)s || PyArray_DIMS(%(gW)s)[0] != R || PyArray_DIMS(%(gW)s)[1] != C || !PyArray_IS_C_CONTIGUOUS(%(gW)s)) {
        Py_XDECREF(%(gW)s); %(gW)s = (PyArrayObject*)PyArray_ZEROS(2, dimsW, NPY_FLOAT64, 0); }
    if (!%(gb)s || PyArray_DIMS(%(gb)s)[0] != C || !PyArray_IS_C_CONTIGUOUS(%(gb)s)) {
        Py_XDECREF(%(gb)s); %(gb)s = (PyArrayObject*)PyArray_ZEROS(1, dimsb, NPY_FLOAT64, 0); }
    if (!%(loss)s || !%(gW)s || !%(gb)s) { PyErr_NoMemory(); %(fail)s }
    double *gW = (double*)PyArray_DATA(%(gW)s), *gb = (double*)PyArray_DATA(%(gb)s);
    double *G = (double*)malloc(sizeof(double) * C * C);
    if (!G) { PyErr_NoMemory(); %(fail)s }
    const char* mub = PyArray_BYTES(mu_); const npy_intp mus = PyArray_STRIDES(mu_)[0];
    double total = *(double*)PyArray_DATA(%(sumsq)s);
    const double n = *(double*)PyArray_DATA(%(n)s);
    for (npy_intp i = 0; i < C; ++i) {
        const double bi = TMS_B(i);
        double gbi = 0.0;
        for (npy_intp j = 0; j < C; ++j) {
            double a = 0.0;
            for (npy_intp r = 0; r < R; ++r) a += TMS_W(r, i) * TMS_W(r, j);
            const npy_intp s = TMS_I(st_, j), e = TMS_I(en_, j);
            npy_intp lo, hi;
            if (a > 0) { lo = tms_upper(mub, mus, s, e, -bi / a); hi = e; }
            else if (a < 0) { lo = s; hi = tms_lower(mub, mus, s, e, -bi / a); }
            else { lo = s; hi = (bi > 0) ? e : s; }
            const double s0 = TMS_P(hi, 0) - TMS_P(lo, 0);
            const double s1 = TMS_P(hi, 1) - TMS_P(lo, 1);
            const double s2 = TMS_P(hi, 2) - TMS_P(lo, 2);
            const double t = (i == j) ? 1.0 : 0.0;
            total += a * a * s2 + 2 * a * bi * s1 + bi * bi * s0 - 2 * t * (a * s2 + bi * s1);
            G[i * C + j] = 2 * a * s2 + 2 * bi * s1 - 2 * t * s2;
            gbi += 2 * a * s1 + 2 * bi * s0 - 2 * t * s1;
        }
        gb[i] = gbi / n;
    }
    for (npy_intp r = 0; r < R; ++r)
        for (npy_intp k = 0; k < C; ++k) {
            double g = 0.0;
            for (npy_intp j = 0; j < C; ++j) g += TMS_W(r, j) * (G[k * C + j] + G[j * C + k]);
            gW[r * C + k] = g / n;
        }
    free(G);
    *(double*)PyArray_DATA(%(loss)s) = total / n;
    #undef TMS_AT
    #undef TMS_W
    #undef TMS_B
    #undef TMS_P
    #undef TMS_I
}
"""


def _op_class():
    """The op class, imported lazily (keeps ``import bayes_tms`` free of PyTensor)."""
    from .fused_op import OneHotLossGrad

    return OneHotLossGrad


def register_numba() -> None:
    """Register a numba implementation of the fused op (needed by the nutpie back-end)."""
    global _NUMBA_DONE
    if _NUMBA_DONE:
        return
    import numba
    from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

    op_cls = _op_class()

    @numba.njit(cache=False)
    def _upper(mu, lo, hi, v):  # first index in [lo, hi) with mu > v
        while lo < hi:
            mid = lo + (hi - lo) // 2
            if mu[mid] > v:
                hi = mid
            else:
                lo = mid + 1
        return lo

    @numba.njit(cache=False)
    def _lower(mu, lo, hi, v):  # first index in [lo, hi) with mu >= v
        while lo < hi:
            mid = lo + (hi - lo) // 2
            if mu[mid] >= v:
                hi = mid
            else:
                lo = mid + 1
        return lo

    @numba.njit(cache=False)
    def _impl(W, b, mu, prefix, start, end, sumsq, n):
        R, C = W.shape
        G = np.zeros((C, C))
        gb = np.zeros(C)
        total = sumsq.item()
        nn = n.item()
        for i in range(C):
            bi = b[i]
            for j in range(C):
                a = 0.0
                for r in range(R):
                    a += W[r, i] * W[r, j]
                s, e = start[j], end[j]
                if a > 0:
                    lo = _upper(mu, s, e, -bi / a)
                    hi = e
                elif a < 0:
                    lo = s
                    hi = _lower(mu, s, e, -bi / a)
                else:
                    lo = s
                    hi = e if bi > 0 else s
                s0 = prefix[hi, 0] - prefix[lo, 0]
                s1 = prefix[hi, 1] - prefix[lo, 1]
                s2 = prefix[hi, 2] - prefix[lo, 2]
                t = 1.0 if i == j else 0.0
                total += a * a * s2 + 2 * a * bi * s1 + bi * bi * s0 - 2 * t * (a * s2 + bi * s1)
                G[i, j] = 2 * a * s2 + 2 * bi * s1 - 2 * t * s2
                gb[i] += 2 * a * s1 + 2 * bi * s0 - 2 * t * s1
        gW = np.zeros((R, C))
        for r in range(R):
            for k in range(C):
                g = 0.0
                for j in range(C):
                    g += W[r, j] * (G[k, j] + G[j, k])
                gW[r, k] = g / nn
        return np.asarray(total / nn), gW, gb / nn

    @register_funcify_default_op_cache_key(op_cls)
    def _funcify(op, node=None, **kwargs):
        return _impl

    _NUMBA_DONE = True


_NUMBA_DONE = False


def onehot_loss_fused(W, b, mu, prefix, start, end, sumsq, n):
    """Exact one-hot ``L_n`` as one fused PyTensor node (C code; numba via :func:`register_numba`).

    Same value and gradient as :func:`onehot_loss`, but the search uses the unshifted ``mu``
    (see :class:`OneHotArrays`) and the whole computation is one node of the graph.
    """
    return _op_class()()(W, b, mu, prefix, start, end, sumsq, n)[0]
