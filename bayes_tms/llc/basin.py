"""The basin of a phase: every column keeps the role it has at ``w*``.

Roles (the classifier's, ``P = PRESENT_NORM``): present and firing, present and switched off
(a ``-``), ``+`` (absent, positive bias) and dead (absent, never firing for its own feature:
``|W_j|^2 + b_j <= 0``). :func:`in_basin` is the numpy predicate, :func:`basin_logp` its PyTensor
twin (``0`` inside, ``-inf`` outside), used as a hard constraint by NUTS. Why the LLC of a saddle
needs the restriction, and why the dead role is stricter than the classifier's, is in the docs
(*LLC methods*).
"""

from __future__ import annotations

__all__ = ["ROLE_FIRING", "ROLE_OFF", "ROLE_PLUS", "ROLE_DEAD", "ROLE_NAMES", "basin_roles", "in_basin", "basin_logp", "resolve_restrict", "wall_rejections"]

import numpy as np

from comparisons.errors import InputError

from .config import RESTRICTS


#: column roles of the basin (see the module docstring)
ROLE_FIRING, ROLE_OFF, ROLE_PLUS, ROLE_DEAD = 0, 1, 2, 3


ROLE_NAMES = ("present-firing", "present-off", "plus", "dead")


def basin_roles(W0, b0) -> np.ndarray:
    """Role code of every column of ``w* = (W0, b0)`` (the classifier's rule, PRESENT_NORM).

    Returns
    -------
    ndarray of int, shape (c,)
        ``ROLE_FIRING`` (present, ``|W_j|^2 + b_j > 0``), ``ROLE_OFF`` (present, not firing),
        ``ROLE_PLUS`` (absent, ``b_j > 0``) or ``ROLE_DEAD`` (absent, ``b_j <= 0``).
    """
    from comparisons.theory import PRESENT_NORM

    W0 = np.asarray(W0, dtype=float)
    b0 = np.asarray(b0, dtype=float)
    norm2 = np.sum(W0**2, axis=0)
    present = norm2 >= PRESENT_NORM**2
    fires = norm2 + b0 > 0
    return np.where(present, np.where(fires, ROLE_FIRING, ROLE_OFF),
                    np.where(b0 > 0, ROLE_PLUS, ROLE_DEAD)).astype(np.int64)


def in_basin(W, b, roles, dead_bias_max: float = 0.0) -> np.ndarray:
    """Whether ``(W, b)`` (batched: ``W[..., r, c]``, ``b[..., c]``) lies in the basin of ``roles``.

    The numpy twin of the model's constraint: every column keeps its role, a dead column never
    fires for its own feature (``|W_j|^2 + b_j <= 0``). See the module docstring.
    ``dead_bias_max`` (<= 0) tightens the dead role to ``b_j <= dead_bias_max`` as well (the
    population-loss LLC of the wall phases needs dead biases clearly negative:
    :mod:`bayes_tms.llc.target`); the default 0 adds nothing.
    """
    from comparisons.theory import PRESENT_NORM

    W = np.asarray(W, dtype=float)
    b = np.asarray(b, dtype=float)
    roles = np.asarray(roles)
    norm2 = np.sum(W**2, axis=-2)
    present = norm2 >= PRESENT_NORM**2
    fires = norm2 + b > 0
    ok = np.select([roles == ROLE_FIRING, roles == ROLE_OFF, roles == ROLE_PLUS],
                   [present & fires, present & ~fires, ~present & (b > 0)],
                   ~present & ~fires & (b <= dead_bias_max))
    return ok.all(axis=-1)


def basin_logp(W, b, roles):
    """PyTensor ``0`` inside the basin of ``roles`` and ``-inf`` outside (invariant quantities)."""
    import pytensor.tensor as pt

    from comparisons.theory import PRESENT_NORM

    norm2 = (W**2).sum(axis=0)
    present = pt.ge(norm2, PRESENT_NORM**2)
    fires = pt.gt(norm2 + b, 0.0)
    absent, off = pt.invert(present), pt.invert(fires)
    ok = pt.switch(pt.eq(roles, ROLE_FIRING), present & fires,
                   pt.switch(pt.eq(roles, ROLE_OFF), present & off,
                             pt.switch(pt.eq(roles, ROLE_PLUS), absent & pt.gt(b, 0.0), absent & off)))
    return pt.switch(pt.all(ok), 0.0, -np.inf)


def resolve_restrict(restrict, W0: np.ndarray, b0: np.ndarray) -> str | None:
    """``"basin"`` or ``None``; ``"auto"`` restricts when ``w*`` is a classified phase.

    ``"auto"``: ``"basin"`` when ``r = 2`` and :func:`comparisons.theory.classify` labels ``w*``
    as an enumerated phase (every phase, the global minimum included: a chain of the unrestricted
    6-gon target that falls into the 5-gon basin during warm-up never returns at large ``n``),
    ``None`` for an unclassified centre (a generic SGD checkpoint far from every phase). An
    explicit ``"basin"`` works for any ``w*`` that lies in its own basin.
    """
    if restrict not in RESTRICTS:
        raise InputError(f"restrict: expected one of 'auto', 'basin', None, got {restrict!r}")
    if restrict is None:
        return None
    inside = bool(in_basin(W0, b0, basin_roles(W0, b0)))
    if restrict == "auto":
        if W0.shape[0] != 2 or not inside:
            return None
        from comparisons.theory import UNCLASSIFIED, classify

        label, _ = classify(W0[None], b0[None])
        return None if str(label[0]) == UNCLASSIFIED else "basin"
    if not inside:
        raise InputError("restrict: expected a centre inside its own basin (a dead column must not fire "
                         "for its own feature: |W_j|^2 + b_j <= 0), got one outside")
    return "basin"


def wall_rejections(prepared, stats, basin) -> int:
    """Divergent transitions that ended outside the basin (nutpie's ``divergence_end``); -1 if unknown."""
    if "divergence_end" not in stats or not hasattr(prepared, "shape_info"):
        return -1
    names, slices, shapes = prepared.shape_info
    if not {"dW", "db"} <= set(names):
        return -1
    div = np.asarray(stats["diverging"].values, dtype=bool)
    if not div.any():
        return 0
    ends = np.asarray(stats["divergence_end"].values, dtype=float)[div]  # (k, n_dim)
    W0, b0, roles = basin
    parts = {nm: ends[:, sl].reshape((-1,) + tuple(int(v) for v in shp))
             for nm, sl, shp in zip(names, slices, shapes)}
    finite = np.isfinite(ends).all(-1)  # a non-finite end is a numerical blow-up, not the wall
    with np.errstate(invalid="ignore"):
        outside = ~in_basin(W0 + parts["dW"], b0 + parts["db"], roles)
    return int((finite & outside).sum())
