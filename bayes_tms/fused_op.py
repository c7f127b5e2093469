"""The fused one-hot likelihood op: loss and exact gradient in one C (or numba) loop.

A handful of PyTensor nodes cost more than the arithmetic at this size (``O(r c^2 + c^2 log
n)``), so the whole one-hot likelihood is one node. This module needs PyTensor at import time;
:mod:`bayes_tms.likelihood` imports it on first use, never the other way round. The op is defined
at module level so that PyTensor can pickle it into its compilation cache.
"""

from __future__ import annotations

__all__ = ["OneHotLossGrad", "onehot_loss_grad_numpy", "register_numba"]

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.link.c.op import COp

from comparisons.errors import InputError


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



class OneHotLossGrad(COp):
    """``(W, b, mu, prefix, start, end, sumsq, n) -> (L_n, dL_n/dW, dL_n/db)`` in one node."""

    __props__ = ()

    def make_node(self, W, b, mu, prefix, start, end, sumsq, n):
        W = pt.as_tensor_variable(W).astype("float64")
        b = pt.as_tensor_variable(b).astype("float64")
        mu = pt.as_tensor_variable(mu).astype("float64")
        prefix = pt.as_tensor_variable(prefix).astype("float64")
        start = pt.as_tensor_variable(start).astype("int64")
        end = pt.as_tensor_variable(end).astype("int64")
        sumsq = pt.as_tensor_variable(sumsq).astype("float64")
        n = pt.as_tensor_variable(n).astype("float64")
        if (W.ndim, b.ndim, mu.ndim, prefix.ndim, start.ndim, end.ndim, sumsq.ndim, n.ndim) != (
                2, 1, 1, 2, 1, 1, 0, 0):
            raise InputError("OneHotLossGrad: expected W (r, c), b (c,), mu (n,), prefix (n+1, 3), "
                             "start/end (c,), scalars sumsq and n")
        outs = [pt.scalar(dtype="float64"), W.type(), b.type()]
        return Apply(self, [W, b, mu, prefix, start, end, sumsq, n], outs)

    def perform(self, node, inputs, output_storage):
        loss, gW, gb = onehot_loss_grad_numpy(*inputs)
        output_storage[0][0] = np.asarray(loss)
        output_storage[1][0] = gW
        output_storage[2][0] = gb

    def infer_shape(self, fgraph, node, shapes):
        return [(), shapes[0], shapes[1]]

    def connection_pattern(self, node):
        return [[True, False, False], [True, False, False]] + [[False, False, False]] * 6

    def grad(self, inputs, output_grads):
        gz, ggW, ggb = output_grads
        if not isinstance(ggW.type, DisconnectedType) or not isinstance(ggb.type, DisconnectedType):
            return [grad_not_implemented(self, k, inp, "second derivatives") for k, inp in enumerate(inputs)]
        _, gW, gb = self(*inputs)
        disc = [DisconnectedType()() for _ in inputs[2:]]
        return [gz * gW, gz * gb, *disc]

    def c_support_code(self, **kwargs):
        return _C_SUPPORT

    def c_code(self, node, name, inames, onames, sub):
        keys = ["W", "b", "mu", "prefix", "start", "end", "sumsq", "n"]
        d = dict(zip(keys, inames))
        d.update(loss=onames[0], gW=onames[1], gb=onames[2], fail=sub["fail"])
        return _C_CODE % d

    def c_code_cache_version(self):
        return (1,)


def register_numba() -> None:
    """Register a numba implementation of :class:`OneHotLossGrad` (the nutpie back-end needs it)."""
    global _NUMBA_DONE
    if _NUMBA_DONE:
        return
    import numba
    from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

    op_cls = OneHotLossGrad

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
