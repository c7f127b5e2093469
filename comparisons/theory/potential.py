"""The TMS potential: the exact population loss, its gradient, and the empirical loss.

Model (``docs/study.md`` section 1): ``f(x; W, b) = ReLU(W^T W x + b)`` with ``W`` of
shape ``(r, c)`` and ``b`` of shape ``(c,)``; inputs ``x = mu e_j`` with ``j`` uniform on the ``c``
features and ``mu ~ U[0, 1]``; loss ``|x - f(x)|^2`` (not halved).

Everything here batches over leading dimensions: ``W[..., r, c]``, ``b[..., c]``.
"""

from __future__ import annotations

__all__ = [
    "sample_inputs",
    "gram",
    "population_loss",
    "population_loss_grad",
    "empirical_loss",
    "empirical_loss_grad",
    "forward",
]

import numpy as np

from ..errors import InputError, check_finite_array, check_positive_int


def sample_inputs(n: int, c: int, rng: np.random.Generator | int | None) -> np.ndarray:
    """Draw ``n`` inputs from the high-sparsity distribution ``q(x)``.

    Parameters
    ----------
    n, c : int
        Number of samples and of features.
    rng : numpy.random.Generator or int
        Source of randomness. An int is a root seed: the rows come from its ``"data"`` stream,
        ``child_rng(seed, "data")`` (see :mod:`comparisons.theory.streams`).

    Returns
    -------
    x : ndarray, shape (n, c)
        Row ``k`` is ``mu_k e_{i_k}`` with ``i_k`` uniform on the features and ``mu_k ~ U[0, 1]``.
        The stream is prefix-stable: ``sample_inputs(m, c, s)`` is the first ``m`` rows of
        ``sample_inputs(n, c, s)`` for ``m <= n``, so nested data sets share their samples.

    Examples
    --------
    >>> x = sample_inputs(5, 3, 0)
    >>> x.shape, int((x > 0).sum(axis=1).max())
    ((5, 3), 1)
    """
    n = check_positive_int("n", n)
    c = check_positive_int("c", c)
    if rng is None:
        raise InputError("rng: expected a numpy Generator or an int seed, got None")
    if isinstance(rng, np.random.Generator):
        pass
    elif isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        from .streams import child_rng

        rng = child_rng(int(rng), "data")
    else:
        raise InputError(f"rng: expected a numpy Generator or an int seed >= 0, got {rng!r}")
    # one uniform pair per sample, drawn in sample order so that prefixes are stable
    u = rng.random((n, 2))
    feature = np.minimum((u[:, 0] * c).astype(np.int64), c - 1)
    x = np.zeros((n, c))
    x[np.arange(n), feature] = u[:, 1]
    return x


def gram(W: np.ndarray) -> np.ndarray:
    """``a[..., i, j] = W_i . W_j`` for ``W[..., r, c]``; shape ``(..., c, c)``."""
    return np.einsum("...ri,...rj->...ij", W, W)


def _active_moments(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moments ``m_k = int_{lo}^{hi} mu^k dmu`` over ``{mu in [0,1] : a mu + b > 0}``, k = 0, 1, 2.

    ``a`` and ``b`` broadcast together; the active set of an affine function on ``[0, 1]`` is one
    interval ``[lo, hi]`` (possibly empty, then ``lo = hi``).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.where(a != 0, -b / np.where(a != 0, a, 1.0), 0.0)
    root = np.clip(root, 0.0, 1.0)
    lo = np.where(a > 0, root, 0.0)
    hi = np.where(a > 0, 1.0, np.where(a < 0, root, np.where(b > 0, 1.0, 0.0)))
    lo = np.minimum(lo, hi)
    return hi - lo, (hi**2 - lo**2) / 2.0, (_cube(hi) - _cube(lo)) / 3.0


def _cube(x: np.ndarray) -> np.ndarray:
    """``x**3``, bit for bit, calling ``pow`` only where ``x`` is neither 0 nor 1 (their own cubes):
    most interval ends are, and ``pow`` is slow on them."""
    out = np.array(x, dtype=float, copy=True)
    some = (out != 0) & (out != 1)
    out[some] = out[some] ** 3
    return out


def _check_shapes(W: np.ndarray, b: np.ndarray) -> None:
    """InputError unless ``W[..., r, c]`` and ``b[..., c]`` have broadcastable batch shapes."""
    ok = W.ndim >= 2 and b.ndim >= 1 and b.shape[-1] == W.shape[-1]
    if ok:
        try:
            np.broadcast_shapes(W.shape[:-2], b.shape[:-1])
        except ValueError:
            ok = False
    if not ok:
        raise InputError(f"expected W[..., r, c] and b[..., c], got shapes {W.shape} and {b.shape}")


def _check_x(x, c: int) -> np.ndarray:
    x = check_finite_array("x", x)
    if x.ndim != 2 or x.shape[1] != c:
        raise InputError(f"x: expected shape (n, c = {c}), got {x.shape}")
    return x


def _pair_terms(W: np.ndarray, b: np.ndarray):
    W = np.asarray(W, dtype=float)
    b = np.asarray(b, dtype=float)
    _check_shapes(W, b)
    c = W.shape[-1]
    a = gram(W)  # a[..., i, j]: output i, input feature j
    bi = b[..., :, None]
    t = np.eye(c)  # target coefficient: output i of input mu e_j is mu * delta_ij
    m0, m1, m2 = _active_moments(a, bi)
    return W, a, bi, t, m0, m1, m2, c


def population_loss(W: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Exact population loss ``L(W, b) = E_q |x - f(x)|^2``.

    Parameters
    ----------
    W : array_like, shape (..., r, c)
    b : array_like, shape (..., c)

    Returns
    -------
    ndarray, shape (...)

    Notes
    -----
    For output ``i`` and input ``mu e_j`` the squared error is
    ``(t mu - ReLU(a_ij mu + b_i))^2`` with ``t = delta_ij``; its integral over ``mu in [0, 1]``
    is ``t^2/3 + int_{lo}^{hi} [(a mu + b)^2 - 2 t mu (a mu + b)] dmu`` where ``[lo, hi]`` is the
    interval on which ``a mu + b > 0``. So ``L = (1/c) sum_ij`` of those integrals, which equals
    the paper's ``H / (3c)`` (Chen et al. 2023, Lemma 3.1); the tests check both against
    quadrature. A dead feature (``W_i = 0``, ``b_i <= 0``) contributes ``1/(3c)``.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.array([[1.0, 0, -1, 0], [0, 1, 0, -1]])  # the 4-gon in c = 4
    >>> float(population_loss(W, np.zeros(4)))
    0.0
    >>> float(population_loss(np.zeros((2, 3)), np.zeros(3)))  # everything dead: 1/3
    0.3333333333333333
    """
    W, a, b, t, m0, m1, m2, c = _pair_terms(check_finite_array("W", W), check_finite_array("b", b))
    integral = t / 3.0 + a * a * m2 + 2 * a * b * m1 + b * b * m0 - 2 * t * (a * m2 + b * m1)
    return integral.sum(axis=(-2, -1)) / c


def population_loss_grad(W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact gradient of :func:`population_loss`; returns ``(dL/dW, dL/db)`` shaped like the inputs.

    Notes
    -----
    The integrand vanishes at the kink ``mu = -b/a``, so moving the kink contributes nothing and
    ``dI/da = int (2 (a mu + b) mu - 2 t mu^2)``, ``dI/db = int (2 (a mu + b) - 2 t mu)`` over the
    active interval. With ``G = dL/da`` and ``a = W^T W``: ``dL/dW = W (G + G^T)``. The loss is
    C^1 everywhere (C^2 except where a kink meets ``mu = 0`` or ``mu = 1``).
    """
    W, a, b, t, m0, m1, m2, c = _pair_terms(check_finite_array("W", W), check_finite_array("b", b))
    G = (2 * a * m2 + 2 * b * m1 - 2 * t * m2) / c
    gb = ((2 * a * m1 + 2 * b * m0 - 2 * t * m1) / c).sum(axis=-1)
    gW = np.einsum("...rj,...ij->...ri", W, G + np.swapaxes(G, -1, -2))
    return gW, gb


def forward(W: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Model output ``ReLU(W^T W x + b)`` for ``x[n, c]``; shape ``(..., n, c)``.

    InputError on non-finite inputs or mismatched shapes.
    """
    W, b = check_finite_array("W", W), check_finite_array("b", b)
    _check_shapes(W, b)
    x = _check_x(x, W.shape[-1])
    pre = np.einsum("...ij,nj->...ni", gram(W), x) + b[..., None, :]
    return np.maximum(pre, 0.0)


def empirical_loss(W: np.ndarray, b: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Empirical loss ``L_n = (1/n) sum_k |x_k - f(x_k)|^2`` for ``x[n, c]``; shape ``(...)``.

    Examples
    --------
    >>> import numpy as np
    >>> x = sample_inputs(100_000, 3, 1)
    >>> W, b = np.ones((2, 3)), -0.2 * np.ones(3)
    >>> abs(float(empirical_loss(W, b, x) - population_loss(W, b))) < 0.03  # about 6 standard errors
    True
    """
    x = check_finite_array("x", x)
    if x.ndim != 2:
        raise InputError(f"x: expected shape (n, c), got {x.shape}")
    return ((x - forward(W, b, x)) ** 2).sum(axis=-1).mean(axis=-1)


def empirical_loss_grad(W: np.ndarray, b: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of :func:`empirical_loss` (ReLU derivative taken as 0 at 0)."""
    W, b = check_finite_array("W", W), check_finite_array("b", b)
    _check_shapes(W, b)
    x = _check_x(x, W.shape[-1])
    n = x.shape[0]
    pre = np.einsum("...ij,nj->...ni", gram(W), x) + b[..., None, :]
    r = np.where(pre > 0, 2.0 * (np.maximum(pre, 0.0) - x), 0.0) / n  # dL/dpre, (..., n, c)
    gb = r.sum(axis=-2)
    Ga = np.einsum("...ni,nj->...ij", r, x)  # dL/da_ij
    gW = np.einsum("...rj,...ij->...ri", W, Ga + np.swapaxes(Ga, -1, -2))
    return gW, gb
