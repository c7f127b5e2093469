"""The TMS model as one batched torch program: losses and hand-written gradients.

Parameters of an ensemble are plain tensors ``W[..., r, c]`` and ``b[..., c]`` (leading dims:
runs, or runs x checkpoints x chains). Model ``f(x) = ReLU(W^T W x + b)``, loss
``|x - f(x)|^2`` summed over features and averaged over samples (``docs/study.md``
section 1). Gradients are written by hand: for the tiny matrices of TMS the autograd tape costs
more than the arithmetic.

Every function here is the torch twin of a numpy reference in :mod:`comparisons.theory`, and the
tests check them against it.
"""

from __future__ import annotations

__all__ = [
    "resolve_dtype", "resolve_device", "minibatch_loss_and_grad", "empirical_loss",
    "population_loss", "population_loss_and_grad", "OneHotTensors", "onehot_tensors",
    "onehot_loss_and_grad",
]

from typing import NamedTuple, Sequence

import numpy as np
import torch

from comparisons.errors import InputError
from comparisons.theory import onehot_summary

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_dtype(name: str | torch.dtype) -> torch.dtype:
    """``"float32"`` / ``"float64"`` (or a torch dtype) -> torch dtype, else InputError."""
    if isinstance(name, torch.dtype) and name in _DTYPES.values():
        return name
    if name not in _DTYPES:
        raise InputError(f"dtype: expected one of {sorted(_DTYPES)}, got {name!r}")
    return _DTYPES[name]


def resolve_device(name: str | torch.device) -> torch.device:
    """``"cpu"`` or ``"cuda[:i]"`` -> torch device; InputError if CUDA is asked for but absent."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise InputError(f"device: expected 'cpu' or 'cuda', got {name!r}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device: expected an available device, got {name!r} (no CUDA here)")
    if device.type not in ("cpu", "cuda"):
        raise InputError(f"device: expected 'cpu' or 'cuda', got {name!r}")
    return device


def minibatch_loss_and_grad(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor,
                            with_loss: bool = True):
    """Loss and exact gradient on a dense batch, for every member of the ensemble at once.

    Parameters
    ----------
    W : Tensor, shape (R, r, c)
    b : Tensor, shape (R, c)
    x : Tensor, shape (R, B, c) or (B, c)
        Inputs (and targets) of each run's batch; a 2-D batch is shared by all runs.
    with_loss : bool
        If False, skip the loss (returned as None) to save two tensor operations per step.

    Returns
    -------
    loss : Tensor, shape (R,) or None
        ``(1/B) sum_k |x_k - f(x_k)|^2``.
    grads : tuple of Tensor
        ``(dL/dW (R, r, c), dL/db (R, c))``; the ReLU derivative at 0 is taken as 0.

    Notes
    -----
    With ``pre = x a + b`` (``a = W^T W``) and ``g = 2 (ReLU(pre) - x) 1[pre > 0] / B``:
    ``dL/db = sum_k g_k``, ``dL/da = g^T x`` and ``dL/dW = W (G + G^T)``.
    """
    B = x.shape[-2]
    a = W.mT @ W
    if x.dim() == W.dim():
        pre = torch.baddbmm(b.unsqueeze(-2), x, a)
    else:
        pre = torch.matmul(x, a) + b.unsqueeze(-2)
    g = torch.where(pre > 0, pre - x, 0.0)
    loss = (g.square().sum((-2, -1)) + torch.where(pre > 0, 0.0, x).square().sum((-2, -1))) / B \
        if with_loss else None
    g = g * (2.0 / B)
    Ga = g.mT @ x
    gW = W @ (Ga + Ga.mT)
    gb = g.sum(-2)
    return loss, (gW, gb)


def empirical_loss(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor,
                   chunk: int = 4096) -> torch.Tensor:
    """Dense empirical loss ``L_n`` of each run on its own data set.

    Parameters
    ----------
    W : Tensor, shape (R, ..., r, c)
    b : Tensor, shape (R, ..., c)
    x : Tensor, shape (R, n, c) or (n, c)
        One data set per run, or one shared.
    chunk : int
        Samples processed at a time (bounds memory).

    Returns
    -------
    Tensor, shape (R, ...)
    """
    extra = W.dim() - 3
    a = W.mT @ W  # (R, ..., c, c)
    xs = x if x.dim() == 3 else x.unsqueeze(0)
    xs = xs.reshape(xs.shape[:1] + (1,) * extra + xs.shape[1:])
    total = torch.zeros(W.shape[:-2], dtype=W.dtype, device=W.device)
    n = xs.shape[-2]
    for s in range(0, n, chunk):
        xc = xs[..., s:s + chunk, :]
        pre = torch.matmul(xc, a) + b.unsqueeze(-2)
        total = total + (pre.clamp_min(0) - xc).square().sum((-2, -1))
    return total / n


def _moments(a: torch.Tensor, bi: torch.Tensor):
    zero = torch.zeros((), dtype=a.dtype, device=a.device)
    one = torch.ones((), dtype=a.dtype, device=a.device)
    root = torch.where(a != 0, -bi / torch.where(a != 0, a, one), zero).clamp(0.0, 1.0)
    lo = torch.where(a > 0, root, zero)
    hi = torch.where(a > 0, one, torch.where(a < 0, root, torch.where(bi > 0, one, zero)))
    lo = torch.minimum(lo, hi)
    return hi - lo, (hi**2 - lo**2) / 2, (hi**3 - lo**3) / 3


def population_loss(W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Exact population loss, torch twin of :func:`comparisons.theory.population_loss`.

    Parameters
    ----------
    W : Tensor, shape (..., r, c)
    b : Tensor, shape (..., c)

    Returns
    -------
    Tensor, shape (...)
    """
    return population_loss_and_grad(W, b)[0]


def population_loss_and_grad(W: torch.Tensor, b: torch.Tensor):
    """Population loss and its exact gradient ``(L, (dL/dW, dL/db))``, batched over leading dims.

    Notes
    -----
    Same closed form as :func:`comparisons.theory.population_loss_grad`: with the active-interval
    moments ``m_k = int mu^k``, ``dL/da_ij = (2 a m2 + 2 b m1 - 2 t m2) / c`` and
    ``dL/db_i = sum_j (2 a m1 + 2 b m0 - 2 t m1) / c``.
    """
    c = W.shape[-1]
    a = W.mT @ W
    bi = b.unsqueeze(-1)
    t = torch.eye(c, dtype=W.dtype, device=W.device)
    m0, m1, m2 = _moments(a, bi)
    integral = t / 3 + a * a * m2 + 2 * a * bi * m1 + bi * bi * m0 - 2 * t * (a * m2 + bi * m1)
    G = (2 * a * m2 + 2 * bi * m1 - 2 * t * m2) / c
    gb = ((2 * a * m1 + 2 * bi * m0 - 2 * t * m1) / c).sum(-1)
    gW = W @ (G + G.mT)
    return integral.sum((-2, -1)) / c, (gW, gb)


class OneHotTensors(NamedTuple):
    """Sufficient statistics of ``D`` one-hot data sets, on a device (see ``OneHotData``).

    Attributes
    ----------
    n, c : int
        Samples per data set and features.
    mu : Tensor, shape (D, c, m)
        Sorted magnitudes per feature, padded with ``+inf``.
    counts : Tensor of int64, shape (D, c)
    prefix : Tensor, shape (D, c, 3 (m + 1))
        ``prefix[d, j, p (m+1) + t] = sum_{s < t} mu[d, j, s]^p`` for p = 0, 1, 2.
    total_sq : Tensor, shape (D, c)
        ``sum_s mu[d, j, s]^2``.
    """

    n: int
    c: int
    mu: torch.Tensor
    counts: torch.Tensor
    prefix: torch.Tensor
    total_sq: torch.Tensor


def onehot_tensors(x: np.ndarray | Sequence[np.ndarray], dtype=torch.float64,
                   device: str | torch.device = "cpu") -> OneHotTensors:
    """Summarise one-hot data sets ``x[D, n, c]`` (or one ``x[n, c]``) for :func:`onehot_loss_and_grad`."""
    x = np.asarray(x, dtype=float)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise InputError(f"x: expected shape (D, n, c) or (n, c), got {x.shape}")
    sums = [onehot_summary(xd) for xd in x]
    D, n, c = x.shape
    m = max(s.mu.shape[1] for s in sums)
    mu = np.full((D, c, m), np.inf)
    prefix = np.zeros((D, c, 3, m + 1))
    counts = np.zeros((D, c), dtype=np.int64)
    for d, s in enumerate(sums):
        md = s.mu.shape[1]
        mu[d, :, :md] = s.mu
        prefix[d, :, :, : md + 1] = np.moveaxis(s.prefix, 0, 1)
        prefix[d, :, :, md + 1:] = prefix[d, :, :, md:md + 1]
        counts[d] = s.counts
    total_sq = prefix[:, np.arange(c), 2, counts[0]] if D == 1 else np.stack(
        [prefix[d, np.arange(c), 2, counts[d]] for d in range(D)])
    total_sq = total_sq.reshape(D, c)
    dev = torch.device(device)
    return OneHotTensors(
        n=n, c=c, mu=torch.as_tensor(mu, dtype=dtype, device=dev).contiguous(),
        counts=torch.as_tensor(counts, device=dev),
        prefix=torch.as_tensor(prefix.reshape(D, c, 3 * (m + 1)), dtype=dtype, device=dev),
        total_sq=torch.as_tensor(total_sq, dtype=dtype, device=dev))


def onehot_loss_and_grad(W: torch.Tensor, b: torch.Tensor, data: OneHotTensors):
    """Exact full-batch ``L_n`` and its gradient for one-hot data, in ``O(c^2 log n)`` per member.

    Parameters
    ----------
    W : Tensor, shape (D, M, r, c)
        ``M`` parameter points per data set (e.g. checkpoints x chains of one run).
    b : Tensor, shape (D, M, c)
    data : OneHotTensors
        ``D`` data sets (``D = 1`` broadcasts one data set over the leading dim of ``W``).

    Returns
    -------
    loss : Tensor, shape (D, M)
    grads : tuple ``(dL/dW (D, M, r, c), dL/db (D, M, c))``

    Notes
    -----
    Torch twin of :func:`comparisons.theory.empirical_loss_onehot`: for output ``i`` and input
    feature ``j`` the samples on which ``a_ij mu + b_i > 0`` form a contiguous range of the sorted
    magnitudes, found by one ``torch.searchsorted``; prefix sums give ``s_p = sum mu^p`` over it.
    The gradient is the population formula with ``m_p`` replaced by ``s_p / n``.
    """
    D, M, _, c = W.shape
    Dd = data.mu.shape[0]
    if Dd not in (1, D) or data.c != c:
        raise InputError(f"W: expected ({Dd}, M, r, {data.c}), got shape {tuple(W.shape)}")
    if Dd == 1 and D > 1:  # one shared data set: fold the leading dim into the chains
        loss, (gW, gb) = onehot_loss_and_grad(W.reshape(1, D * M, *W.shape[2:]),
                                              b.reshape(1, D * M, c), data)
        return loss.reshape(D, M), (gW.reshape(W.shape), gb.reshape(b.shape))
    mu, counts, prefix, tsq = data.mu, data.counts, data.prefix, data.total_sq
    m1 = mu.shape[-1] + 1
    n = data.n
    # layout (D, c_j, M, c_i): the searched input-feature axis j next to the data
    a = W.mT @ W  # (D, M, i, j), symmetric
    aj = a.permute(0, 3, 1, 2).contiguous()  # (D, j, M, i)
    bj = b.unsqueeze(1)  # (D, 1, M, i)
    # kink mu = -b/a; for a = 0 the unit is on for all mu (b > 0, root -inf) or none (root +inf)
    inf = float("inf")
    root = torch.nan_to_num(-bj / aj, nan=inf, posinf=inf, neginf=-inf)
    idx = torch.searchsorted(mu, root.reshape(D, c, M * c), right=True)
    idx = torch.minimum(idx, counts.unsqueeze(-1))  # number of samples with mu <= root
    # prefix sums of mu^0, mu^1, mu^2 below the kink: one gather for the three moments
    base = torch.arange(3, device=W.device).reshape(1, 1, 3, 1) * m1
    ind = (idx.unsqueeze(2) + base).reshape(D, c, 3 * M * c)
    below = torch.gather(prefix, 2, ind).reshape(D, c, 3, M, c)
    ends = (counts.unsqueeze(-1) + base.reshape(1, 1, 3)).reshape(D, c, 3)
    total = torch.gather(prefix, 2, ends).reshape(D, c, 3, 1, 1)
    # a > 0 (or a = 0): active above the kink; a < 0: active below it
    s = torch.where((aj < 0).unsqueeze(2), below, total - below)
    s0, s1, s2 = s.unbind(2)  # (D, j, M, i)
    u = aj * s2 + bj * s1  # half of dL/da before the target term
    v = aj * s1 + bj * s0
    du = torch.diagonal(u, dim1=1, dim2=3)  # (D, M, c): the j = i terms
    ds1 = torch.diagonal(s1, dim1=1, dim2=3)
    ds2 = torch.diagonal(s2, dim1=1, dim2=3)
    # per (i, j): t mu^2 total + a^2 s2 + 2 a b s1 + b^2 s0 - 2 t (a s2 + b s1), t = delta_ij
    loss = ((aj * u + bj * v).sum((1, 3)) + tsq.sum(-1, keepdim=True) - 2 * du.sum(-1)) / n
    G = u.permute(0, 2, 3, 1) - torch.diag_embed(ds2)  # (D, M, i, j)
    gb = (2.0 / n) * (v.sum(1) - ds1)
    gW = (2.0 / n) * (W @ (G + G.mT))
    return loss, (gW, gb)
