"""The fused one-hot likelihood op (imported lazily: it needs PyTensor at import time).

Defined at module level so that PyTensor can pickle it into its compilation cache.
"""

from __future__ import annotations

__all__ = ["OneHotLossGrad"]

import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.link.c.op import COp

from comparisons.errors import InputError

from .likelihood import _C_CODE, _C_SUPPORT, onehot_loss_grad_numpy


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

