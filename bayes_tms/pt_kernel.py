"""The compiled (numba) batched kernel of replica exchange: exact nested one-hot loss and gradient.

:func:`comparisons.theory.nested_loss_grad` evaluates ``L_{n_r}`` and its gradient for every copy
x rung of a PT ensemble in one vectorised numpy call; this module computes the same numbers in
one compiled loop, parallel over the batch (``numba.prange``), and fuses the Gaussian prior and
the ``n beta`` weighting so that replica exchange gets ``(log p, grad log p)`` in one call
(:func:`tms_logdensity_and_grad`). The numpy function stays the reference the tests compare
against (``tests/test_pt_kernel.py``: 1e-12 relative in float64).

Arithmetic
----------
Each replica is evaluated by the same sequential loop (fixed summation order, no BLAS, no
reassociation: numba compiles without ``fastmath``), on its own, in whichever thread picks it
up. The result is therefore bit-identical whatever the number of threads (``NUMBA_NUM_THREADS``)
and whatever BLAS numpy is linked against.

Per replica, with ``a = W^T W`` and the active sums ``S_p`` of the magnitudes of feature ``j``
on which output ``i`` fires (two binary searches in the sorted magnitudes per ``(i, j)``; see
:mod:`comparisons.theory.onehot` for the formula)::

    n L_n = sum|x|^2 + sum_ij (a_ij u_ij + b_i v_ij) - 2 sum_i u_ii,
    u = a S_2 + b S_1,  v = a S_1 + b S_0,
    dL/db_i = 2 (sum_j v_ij - S_1,ii) / n,   dL/dW = 2 W M / n,  M = u + u^T - 2 diag(S_2).

The population loss (``bayes --sampler pt --population``) runs through the same loops, with the
closed form of :func:`comparisons.theory.population_loss` in place of the data sums
(:func:`_population_replica`, chosen per replica by the ``population`` argument; pass
``nested=None`` and ``features`` to :func:`tms_density_kernel` and :func:`tms_leapfrog_kernel`);
:func:`population_loss_grad_compiled` is its twin of the numpy pair.

Importing this module imports numba and compiles nothing: the kernels are compiled on first use
and cached on disk (``cache=True``), so later processes load them in well under a second.
"""

from __future__ import annotations

__all__ = ["nested_loss_grad_compiled", "population_loss_grad_compiled", "tms_logdensity_and_grad",
           "tms_density_kernel", "tms_leapfrog_kernel", "PARALLEL_MIN_BATCH", "serial"]

import contextlib
import time

import numba
import numpy as np

from comparisons.errors import InputError
from comparisons.theory import NestedOneHot

#: batches (copies x rungs) at least this large run over numba's threads (``prange``), smaller
#: ones in the calling thread. A replica costs well under a microsecond, so a parallel launch only
#: pays for large batches, and on a machine whose cores are busy with other work OpenMP threads
#: that wait for each other cost far more than they save (10x slower at the paper preset's batch
#: of about 170 replicas on a loaded 2-core machine, about 1.8x faster on an idle one). The
#: numbers are the same either way.
PARALLEL_MIN_BATCH = 2048
#: replicas per block of the parallel loop (one scratch allocation per block)
_BLOCK = 8
#: below PARALLEL_MIN_BATCH the leapfrog kernel of a PT run picks its loop by measured speed
#: (:class:`_LoopChooser`): on an idle machine numba's threads halve a paper-preset sweep, on a
#: loaded one they are several times slower. The draws are the same either way.
ADAPTIVE = True
#: the chooser times PROBE_CALLS calls of each loop, then keeps the faster one for REPROBE_EVERY
#: calls (the load of a shared machine changes), and so on
PROBE_CALLS = 4
REPROBE_EVERY = 1000
_serial_depth = 0


@numba.njit(cache=True, nogil=True, inline="always")
def _count_le(mu_j, cnt, root):
    """Number of ``mu_j[:cnt]`` (sorted) that are ``<= root``; ``cnt`` for NaN (numpy's order).

    Branch-free binary search: a conditional move per halving, no mispredicted jumps.
    """
    if root != root:  # NaN sorts last in numpy: every finite magnitude is below it
        return cnt
    if cnt == 0 or root < mu_j[0]:  # a kink below the data (often: a_ij < 0 < -b_i / ...)
        return 0
    if root >= mu_j[cnt - 1]:
        return cnt
    base = 0
    n = cnt
    while n > 1:
        half = n >> 1
        base = base + half if mu_j[base + half] <= root else base
        n -= half
    return base + (1 if mu_j[base] <= root else 0)


@numba.njit(cache=True, nogil=True, inline="always")
def _count_le_from(mu_j, cnt, root, h):
    """:func:`_count_le` searched outward from a guess ``h`` (galloping), the same count.

    Along a leapfrog trajectory the kinks move a little per step, so the previous step's count is
    a few samples off: doubling steps bracket the answer in ``O(log distance)`` probes.
    """
    if root != root:
        return cnt
    if h > cnt:
        h = cnt
    step = 1
    if h < cnt and mu_j[h] <= root:  # the answer lies above h
        lo = h + 1
        hi = cnt
        while True:
            probe = lo + step - 1
            if probe >= cnt:
                break
            if mu_j[probe] <= root:
                lo = probe + 1
                step *= 2
            else:
                hi = probe
                break
    else:  # mu[h] > root (or h = cnt): the answer is at most h
        hi = h
        lo = 0
        while True:
            probe = hi - step
            if probe < 0:
                break
            if mu_j[probe] > root:
                hi = probe
                step *= 2
            else:
                lo = probe + 1
                break
    while lo < hi:  # first index in [lo, hi) above root
        mid = (lo + hi) >> 1
        if mu_j[mid] <= root:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True, inline="always")
def _gram_and_clear(q, r, c, a, M):
    """``a = W^T W`` for ``W = q[:r c]`` (row-major ``(r, c)``), in a fixed order; ``M = 0``."""
    for i in range(c):
        for j in range(i, c):
            s = 0.0
            for h in range(r):
                s += q[h * c + i] * q[h * c + j]
            a[i, j] = s
            a[j, i] = s
    for i in range(c):
        for j in range(c):
            M[i, j] = 0.0


@numba.njit(cache=True, nogil=True, inline="always")
def _replica(q, k, r, c, mu, counts, prefix, sumsq_k, n_k, a, M, hint, warm, gq):
    """``L_{n_k}`` at ``q = [W.ravel(), b]`` (rung ``k``), and ``dL/dq`` written into ``gq``.

    ``a`` and ``M`` are ``(c, c)`` scratch arrays; ``hint`` (int64, ``(c, c)``) receives the kink
    counts, and with ``warm`` the searches start from the counts already in it. Output ``i`` fires on ``mu e_j`` iff
    ``a_ij mu + b_i > 0`` (strict, as in :func:`comparisons.theory.onehot._kink_ranges`): the
    samples above the kink for ``a_ij > 0``, below it for ``a_ij < 0``, all or none by the sign
    of ``b_i`` for ``a_ij = 0``.
    """
    rc = r * c
    _gram_and_clear(q, r, c, a, M)
    acc = 0.0   # sum_ij (a u + b v)
    diag = 0.0  # sum_i u_ii
    for i in range(c):
        bi = q[rc + i]
        gbi = 0.0
        for j in range(c):
            aij = a[i, j]
            cnt = counts[j]
            idx = 0
            if aij != 0:
                if warm:
                    idx = _count_le_from(mu[j], cnt, -bi / aij, hint[i, j])
                else:
                    idx = _count_le(mu[j], cnt, -bi / aij)
                hint[i, j] = idx
            if aij > 0:
                lo = idx
                hi = cnt
            elif aij < 0:
                lo = 0
                hi = idx
            else:  # a = 0 (or NaN)
                lo = 0
                hi = cnt if bi > 0 else 0
            if lo > hi:
                lo = hi
            s0 = prefix[k, j, hi, 0] - prefix[k, j, lo, 0]
            s1 = prefix[k, j, hi, 1] - prefix[k, j, lo, 1]
            s2 = prefix[k, j, hi, 2] - prefix[k, j, lo, 2]
            u = aij * s2 + bi * s1
            v = aij * s1 + bi * s0
            acc += aij * u + bi * v
            gbi += v
            M[i, j] += u
            M[j, i] += u
            if i == j:
                diag += u
                gbi -= s1
                M[i, i] -= 2.0 * s2
        gq[rc + i] = 2.0 * gbi / n_k
    for h in range(r):
        for kk in range(c):
            s = 0.0
            for j in range(c):
                s += q[h * c + j] * M[j, kk]
            gq[h * c + kk] = 2.0 * s / n_k
    return (sumsq_k + acc - 2.0 * diag) / n_k


@numba.njit(cache=True, nogil=True, inline="always")
def _population_replica(q, r, c, a, M, gq):
    """The population loss ``L`` at ``q = [W.ravel(), b]`` and ``dL/dq`` written into ``gq``.

    The arithmetic of :func:`comparisons.theory.population_loss` and
    :func:`comparisons.theory.population_loss_grad`, one ``(i, j)`` at a time: the active moments
    ``m_p = int mu^p`` over ``{mu in [0, 1]: a_ij mu + b_i > 0}`` (the kink ``-b_i / a_ij`` clipped
    to ``[0, 1]``; for ``a_ij = 0`` all of ``[0, 1]`` or nothing by the sign of ``b_i``), then::

        c L = sum_ij [t/3 + a^2 m2 + 2 a b m1 + b^2 m0 - 2 t (a m2 + b m1)],  t = delta_ij,
        G = (2 a m2 + 2 b m1 - 2 t m2) / c,  dL/db_i = sum_j (2 a m1 + 2 b m0 - 2 t m1) / c,
        dL/dW = W (G + G^T).

    ``a`` and ``M`` are ``(c, c)`` scratch arrays (``M`` receives ``G + G^T``).
    """
    rc = r * c
    _gram_and_clear(q, r, c, a, M)
    total = 0.0
    for i in range(c):
        bi = q[rc + i]
        gbi = 0.0
        for j in range(c):
            aij = a[i, j]
            t = 1.0 if i == j else 0.0
            root = -bi / aij if aij != 0 else 0.0
            root = min(max(root, 0.0), 1.0)
            if aij > 0:
                lo = root
                hi = 1.0
            elif aij < 0:
                lo = 0.0
                hi = root
            else:
                lo = 0.0
                hi = 1.0 if bi > 0 else 0.0
            lo = min(lo, hi)
            m0 = hi - lo
            m1 = (hi * hi - lo * lo) / 2.0
            m2 = (hi * hi * hi - lo * lo * lo) / 3.0
            total += t / 3.0 + aij * aij * m2 + 2 * aij * bi * m1 + bi * bi * m0 - 2 * t * (aij * m2 + bi * m1)
            G = (2 * aij * m2 + 2 * bi * m1 - 2 * t * m2) / c
            M[i, j] += G
            M[j, i] += G
            gbi += (2 * aij * m1 + 2 * bi * m0 - 2 * t * m1) / c
        gq[rc + i] = gbi
    for h in range(r):
        for kk in range(c):
            s = 0.0
            for j in range(c):
                s += q[h * c + j] * M[kk, j]
            gq[h * c + kk] = s
    return total / c


@numba.njit(cache=True, nogil=True, inline="always")
def _one(qf, out, gout, idx, R, r, c, mu, counts, prefix, sumsq, ns, nbeta, inv_var, density, population, a, M,
         hint, warm):
    """Replica ``idx`` of the flattened batch: loss (``density`` False) or log density, and gradient.

    The loss is the population loss with ``population`` (the data arguments are then unused), else
    the rung's empirical loss ``L_{n_k}``."""
    k = idx % R
    q = qf[idx]
    g = gout[idx]
    d = q.shape[0]
    finite = True
    for t in range(d):
        if not np.isfinite(q[t]):
            finite = False
            break
    if not finite:  # a diverged leapfrog state: density 0, rejected by the caller
        for t in range(d):
            g[t] = 0.0
        out[idx] = -np.inf if density else np.nan
        return
    if population:
        L = _population_replica(q, r, c, a, M, g)
    else:
        L = _replica(q, k, r, c, mu, counts, prefix, sumsq[k], float(ns[k]), a, M, hint, warm, g)
    if not density:
        out[idx] = L
        return
    sq = 0.0
    for t in range(d):
        sq += q[t] * q[t]
    nb = nbeta[k]
    out[idx] = -0.5 * inv_var * sq - nb * L
    for t in range(d):
        g[t] = -inv_var * q[t] - nb * g[t]


@numba.njit(cache=True, nogil=True)
def _batch_serial(qf, out, gout, R, r, c, mu, counts, prefix, sumsq, ns, nbeta, inv_var, population, density):
    a = np.empty((c, c))
    M = np.empty((c, c))
    hint = np.zeros((c, c), dtype=np.int64)
    B = qf.shape[0]
    for k in range(R):  # rung-major: the copies of one rung share that rung's prefix sums in cache
        for idx in range(k, B, R):
            _one(qf, out, gout, idx, R, r, c, mu, counts, prefix, sumsq, ns, nbeta, inv_var, density, population, a,
                 M, hint, False)


@numba.njit(cache=True, nogil=True, parallel=True)
def _batch_parallel(qf, out, gout, R, r, c, mu, counts, prefix, sumsq, ns, nbeta, inv_var, population, density):
    B = qf.shape[0]
    nblocks = (B + _BLOCK - 1) // _BLOCK
    for blk in numba.prange(nblocks):
        a = np.empty((c, c))
        M = np.empty((c, c))
        hint = np.zeros((c, c), dtype=np.int64)
        for idx in range(blk * _BLOCK, min(B, (blk + 1) * _BLOCK)):
            _one(qf, out, gout, idx, R, r, c, mu, counts, prefix, sumsq, ns, nbeta, inv_var, density, population, a,
                 M, hint, False)


@numba.njit(cache=True, nogil=True, inline="always")
def _leapfrog_one(q0, p0, g0, eps, n_steps, qf, pf, out, gout, idx, R, r, c, mu, counts, prefix, sumsq, ns,
                  nbeta, inv_var, population, a, M, hint):
    """The leapfrog trajectory of replica ``idx``: the arithmetic of ``bayes_tms.pt._hmc``, in order."""
    d = q0.shape[1]
    e = eps[idx]
    half = 0.5 * e
    for t in range(d):
        qf[idx, t] = q0[idx, t]
        pf[idx, t] = p0[idx, t] + half * g0[idx, t]
    for s in range(n_steps):
        for t in range(d):
            qf[idx, t] = qf[idx, t] + e * pf[idx, t]
        # a non-finite state skips the searches: the counts in hint are then stale, not wrong
        _one(qf, out, gout, idx, R, r, c, mu, counts, prefix, sumsq, ns, nbeta, inv_var, True, population, a, M,
             hint, s > 0)
        w = e if s < n_steps - 1 else half
        for t in range(d):
            pf[idx, t] = pf[idx, t] + w * gout[idx, t]


@numba.njit(cache=True, nogil=True)
def _leapfrog_serial(q0, p0, g0, eps, n_steps, qf, pf, out, gout, R, r, c, mu, counts, prefix, sumsq, ns,
                     nbeta, inv_var, population):
    a = np.empty((c, c))
    M = np.empty((c, c))
    hint = np.zeros((c, c), dtype=np.int64)
    B = q0.shape[0]
    for k in range(R):
        for idx in range(k, B, R):
            _leapfrog_one(q0, p0, g0, eps, n_steps, qf, pf, out, gout, idx, R, r, c, mu, counts, prefix, sumsq,
                          ns, nbeta, inv_var, population, a, M, hint)


@numba.njit(cache=True, nogil=True, parallel=True)
def _leapfrog_parallel(q0, p0, g0, eps, n_steps, qf, pf, out, gout, R, r, c, mu, counts, prefix, sumsq, ns,
                       nbeta, inv_var, population):
    B = q0.shape[0]
    nblocks = (B + _BLOCK - 1) // _BLOCK
    for blk in numba.prange(nblocks):
        a = np.empty((c, c))
        M = np.empty((c, c))
        hint = np.zeros((c, c), dtype=np.int64)
        for idx in range(blk * _BLOCK, min(B, (blk + 1) * _BLOCK)):
            _leapfrog_one(q0, p0, g0, eps, n_steps, qf, pf, out, gout, idx, R, r, c, mu, counts, prefix, sumsq,
                          ns, nbeta, inv_var, population, a, M, hint)


def _use_threads(batch: int) -> bool:
    return batch >= PARALLEL_MIN_BATCH and numba.get_num_threads() > 1 and _serial_depth == 0


@contextlib.contextmanager
def serial():
    """Run every kernel call in the calling thread inside this block (e.g. in each worker of a process
    pool, where the other workers already use the other cores). The numbers are the same."""
    global _serial_depth
    _serial_depth += 1
    try:
        yield
    finally:
        _serial_depth -= 1


class _LoopChooser:
    """Which loop (serial or over numba's threads) the next leapfrog call runs, by measured speed.

    Both loops give the same bits (each replica is one sequential loop), so the choice only
    changes the time: every :data:`REPROBE_EVERY` calls, :data:`PROBE_CALLS` calls of the serial
    loop, then as many of the threaded one, are timed per replica-step, and the faster loop (threads only when at least 10%
    faster) runs until the next probe. Batches from :data:`PARALLEL_MIN_BATCH` always use the
    threads, and one numba thread, :func:`serial` or ``ADAPTIVE = False`` mean the serial loop.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.threads = False
        self.samples: dict = {False: [], True: []}

    def choose(self, batch: int) -> tuple[bool, bool]:
        """``(use threads, time this call)``."""
        if batch >= PARALLEL_MIN_BATCH or not ADAPTIVE or _serial_depth or numba.get_num_threads() < 2:
            return _use_threads(batch), False
        phase = self.calls % REPROBE_EVERY
        self.calls += 1
        if phase < 2 * PROBE_CALLS:  # the serial block first: idle threads spinning after a threaded
            return phase >= PROBE_CALLS, True  # call would slow (and misjudge) a serial one timed next
        return self.threads, False

    def record(self, threads: bool, seconds: float, work: int) -> None:
        self.samples[threads].append(seconds / max(work, 1))
        if len(self.samples[False]) >= PROBE_CALLS and len(self.samples[True]) >= PROBE_CALLS:
            self.threads = bool(np.median(self.samples[True]) < 0.9 * np.median(self.samples[False]))
            self.samples = {False: [], True: []}


def _bound(nested: NestedOneHot | None, hidden: int, nbeta: np.ndarray, inv_var: float,
           features: int | None = None) -> tuple:
    """The kernels' ladder arguments ``(R, r, c, mu, counts, prefix, sumsq, ns, nbeta, inv_var, population)``.

    ``nested=None``: the population loss over ``features`` (``R = nbeta.size`` rungs); the data
    arguments are then unused, and small zero arrays of the same types stand in for them.
    """
    nbeta = np.ascontiguousarray(nbeta, dtype=np.float64)
    if nested is None:
        if not isinstance(features, (int, np.integer)) or features < 1:
            raise InputError(f"features: expected a positive int for the population loss (nested=None), "
                             f"got {features!r}")
        R, c = nbeta.size, int(features)
        return (R, int(hidden), c, np.zeros((c, 1)), np.zeros(c, dtype=np.int64), np.zeros((R, c, 2, 3)),
                np.zeros(R), np.ones(R, dtype=np.int64), nbeta, float(inv_var), True)
    return (nested.ns.size, int(hidden), nested.c, np.ascontiguousarray(nested.mu), nested.counts.astype(np.int64),
            np.ascontiguousarray(nested.prefix), np.ascontiguousarray(nested.sumsq, dtype=np.float64),
            nested.ns.astype(np.int64), nbeta, float(inv_var), False)


def _evaluate(q: np.ndarray, args: tuple, density: bool, parallel: bool | None):
    """Run the batch kernel on positions ``q[..., R, d]`` with the ladder arguments ``args`` (:func:`_bound`)."""
    R, r, c = args[:3]
    d = r * c + c
    if q.ndim < 2 or q.shape[-2:] != (R, d):
        raise InputError(f"positions: expected shape (..., {R}, {d}) (rungs, r c + c), got {q.shape}")
    qf = np.ascontiguousarray(q, dtype=np.float64).reshape(-1, d)
    out = np.empty(qf.shape[0])
    gout = np.empty_like(qf)
    if parallel is None:
        parallel = _use_threads(qf.shape[0])
    (_batch_parallel if parallel else _batch_serial)(qf, out, gout, *args, density)
    return out.reshape(q.shape[:-1]), gout.reshape(q.shape)


def _positions(W: np.ndarray, b: np.ndarray, min_ndim: int, what: str) -> np.ndarray:
    """``q = [W.ravel(), b]`` from ``W[..., r, c]`` and ``b[..., c]`` of the same batch shape."""
    W = np.asarray(W, dtype=float)
    b = np.asarray(b, dtype=float)
    if W.ndim < min_ndim or b.shape[-1:] != W.shape[-1:] or W.shape[:-2] != b.shape[:-1]:
        raise InputError(f"W, b: expected shapes {what} and (..., c), got {W.shape} and {b.shape}")
    r, c = W.shape[-2:]
    return np.concatenate([W.reshape(W.shape[:-2] + (r * c,)), b], axis=-1)


def _loss_grad(q: np.ndarray, W_shape: tuple, args: tuple, grad: bool, parallel: bool | None):
    loss, g = _evaluate(q, args, False, parallel)
    if not grad:
        return loss
    rc = W_shape[-2] * W_shape[-1]
    return loss, g[..., :rc].reshape(W_shape), g[..., rc:]


def nested_loss_grad_compiled(W: np.ndarray, b: np.ndarray, nested: NestedOneHot, grad: bool = True,
                              *, parallel: bool | None = None):
    """Compiled twin of :func:`comparisons.theory.nested_loss_grad`: the same arguments, shapes and returns.

    ``W[..., R, r, c]`` and ``b[..., R, c]`` (axis ``-3`` of ``W`` is the rung) give ``loss[..., R]`` and,
    with ``grad``, ``dW`` and ``db`` shaped like ``W`` and ``b``. ``parallel`` forces the threaded
    (``True``) or the single-thread (``False``) loop; by default threads are used from
    :data:`PARALLEL_MIN_BATCH` replicas. The numbers are the same either way.
    """
    if np.shape(W)[-1:] != (nested.c,):
        raise InputError(f"W, b: expected shapes (..., R, r, {nested.c}) and (..., R, {nested.c}), got "
                         f"{np.shape(W)} and {np.shape(b)}")
    q = _positions(W, b, 3, f"(..., R, r, {nested.c})")
    args = _bound(nested, np.shape(W)[-2], np.zeros(nested.ns.size), 0.0)
    return _loss_grad(q, np.shape(W), args, grad, parallel)


def population_loss_grad_compiled(W: np.ndarray, b: np.ndarray, grad: bool = True, *,
                                  parallel: bool | None = None):
    """Compiled twin of :func:`comparisons.theory.population_loss` and :func:`~comparisons.theory.population_loss_grad`.

    Parameters
    ----------
    W : array_like, shape (..., r, c)
    b : array_like, shape (..., c)
        The same batch shape as ``W``.
    grad : bool
        Also return the gradient.
    parallel : bool, optional
        See :func:`nested_loss_grad_compiled`.

    Returns
    -------
    loss : ndarray, shape (...)
    dW, db : ndarray
        With ``grad``: shaped like ``W`` and ``b``. A non-finite ``W`` or ``b`` gives a NaN loss
        and a zero gradient (the numpy functions refuse it).
    """
    q = _positions(W, b, 2, "(..., r, c)")
    r, c = np.shape(W)[-2:]
    args = _bound(None, r, np.zeros(1), 0.0, features=c)
    out = _loss_grad(q[..., None, :], np.shape(W)[:-2] + (1, r, c), args, grad, parallel)
    if not grad:
        return out[..., 0]
    loss, dW, db = out
    return loss[..., 0], dW.reshape(np.shape(W)), db.reshape(np.shape(b))


def tms_logdensity_and_grad(q: np.ndarray, nested: NestedOneHot, hidden: int, nbeta: np.ndarray,
                            inv_var: float, *, parallel: bool | None = None):
    """``log p_r(q) = -|q|^2 / (2 prior_sigma^2) - n_r beta L_{n_r}(q)`` and its gradient, compiled.

    Parameters
    ----------
    q : ndarray, shape (..., R, d)
        Positions ``[W.ravel(), b]`` (``d = r c + c``, ``W`` row-major ``(r, c)``); rung ``k`` at
        ``q[..., k, :]``.
    nested : NestedOneHot
        The ladder's data summary.
    hidden : int
        ``r``.
    nbeta : ndarray, shape (R,)
        ``n_r beta``.
    inv_var : float
        ``1 / prior_sigma^2``.
    parallel : bool, optional
        See :func:`nested_loss_grad_compiled`.

    Returns
    -------
    logp : ndarray, shape (..., R)
        ``-inf`` where ``q`` has a non-finite entry (its gradient is then 0).
    grad : ndarray, shape (..., R, d)
    """
    return _evaluate(q, _bound(nested, hidden, nbeta, inv_var), True, parallel)


def tms_density_kernel(nested: NestedOneHot | None, hidden: int, nbeta: np.ndarray, inv_var: float, *,
                       features: int | None = None, parallel: bool | None = None):
    """:func:`tms_logdensity_and_grad` with its ladder bound: ``q[..., R, d] -> (logp, grad)``.

    ``nested=None`` gives the population-loss ladder ``log p_r = -|q|^2 / (2 prior_sigma^2) - n_r
    beta L(q)`` over ``features`` (``R = nbeta.size``). The arrays are converted once, so a call
    costs the kernel and a few microseconds.
    """
    args = _bound(nested, hidden, nbeta, inv_var, features)

    def logdensity_and_grad(q: np.ndarray):
        return _evaluate(q, args, True, parallel)

    return logdensity_and_grad


def tms_leapfrog_kernel(nested: NestedOneHot | None, hidden: int, nbeta: np.ndarray, inv_var: float, *,
                        features: int | None = None, parallel: bool | None = None):
    """The whole leapfrog trajectory of every replica in one compiled call.

    Returns ``integrate(q0, p0, g0, eps, n_steps) -> (q, p, logp, grad)`` with ``q0, p0, g0`` of
    shape ``(C, R, d)`` (positions, momenta, gradients at ``q0``), ``eps`` of shape ``(C, R)`` (each
    replica's step) and ``n_steps >= 1``: ``p += eps/2 g``, then ``n_steps`` times ``q += eps p``,
    ``g = grad log p(q)``, ``p += eps g`` (``eps/2`` on the last step). The same operations, in the
    same order, as the numpy loop of :func:`bayes_tms.pt._hmc` with the compiled density, hence the
    same bits; one call instead of ``n_steps`` saves the per-step Python and array overhead. With
    ``parallel=None`` each call runs the serial or the threaded loop, whichever measured faster
    (:class:`_LoopChooser`); the bits are the same. ``nested=None`` and ``features``: the
    population loss, as in :func:`tms_density_kernel`.
    """
    args = _bound(nested, hidden, nbeta, inv_var, features)
    R, r, c = args[:3]
    d = r * c + c
    chooser = _LoopChooser()

    def integrate(q0: np.ndarray, p0: np.ndarray, g0: np.ndarray, eps: np.ndarray, n_steps: int):
        if q0.shape[-2:] != (R, d) or p0.shape != q0.shape or g0.shape != q0.shape or eps.shape != q0.shape[:-1]:
            raise InputError(f"integrate: expected q0, p0, g0 of shape (..., {R}, {d}) and eps (..., {R}), got "
                             f"{q0.shape}, {p0.shape}, {g0.shape} and {eps.shape}")
        flat = [np.ascontiguousarray(v, dtype=np.float64).reshape(-1, d) for v in (q0, p0, g0)]
        e = np.ascontiguousarray(eps, dtype=np.float64).reshape(-1)
        qf, pf, gout = (np.empty_like(flat[0]) for _ in range(3))
        out = np.empty(qf.shape[0])
        par, timed = (parallel, False) if parallel is not None else chooser.choose(qf.shape[0])
        t0 = time.perf_counter()
        (_leapfrog_parallel if par else _leapfrog_serial)(*flat, e, int(n_steps), qf, pf, out, gout, *args)
        if timed:
            chooser.record(par, time.perf_counter() - t0, qf.shape[0] * int(n_steps))
        return (qf.reshape(q0.shape), pf.reshape(q0.shape), out.reshape(q0.shape[:-1]), gout.reshape(q0.shape))

    return integrate
