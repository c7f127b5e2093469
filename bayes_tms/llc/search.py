"""The neighbourhood check: is ``w*`` the lowest point of its basin?

Projected gradient descent from many starts around ``w*`` inside the allowed region; a lower
point means the restricted target is not local to the phase, and its LLC would be wrong.
"""

from __future__ import annotations

__all__ = ["neighbourhood_search"]

from typing import Sequence

import numpy as np

from comparisons.errors import check_positive_int

from .target import LossTarget


def neighbourhood_search(target: LossTarget, *, starts: int = 200, radii: Sequence[float] = (0.01, 0.05, 0.2),
                         iters: int = 300, rng: np.random.Generator | int = 0) -> dict:
    """Look for points of the allowed region with lower loss than ``w*`` (feasible gradient descent).

    Starts ``w* + r z`` (``z ~ N(0, I)``, ``r`` cycling over ``radii``; starts outside the region
    are redrawn), then steepest descent on ``L`` with the exact gradient and a per-start step that
    halves on any step leaving the region or not decreasing ``L`` (grows by 1.5 otherwise), so
    every iterate stays allowed. A lower point means the restriction is not local to the phase.

    Returns
    -------
    dict
        ``min_excess`` (least ``L - L*`` reached), ``argmin`` (that point, shape (d,)),
        ``starts``, ``radii``, ``iters`` (the settings) and ``valid_starts`` (the starts that lay
        in the region after 100 redraws, the ones descended from).
    """
    rng = np.random.default_rng(rng)
    starts = check_positive_int("starts", starts)
    r = np.asarray(radii, dtype=float)[np.arange(starts) % len(radii)]
    x = target.w0 + r[:, None] * rng.standard_normal((starts, target.d))
    for _ in range(100):
        bad = ~target.inside(x)
        if not bad.any():
            break
        x[bad] = target.w0 + r[bad, None] * rng.standard_normal((int(bad.sum()), target.d))
    x = x[target.inside(x)]
    f = target.loss(x)
    step = np.full(len(x), 0.1)
    for _ in range(iters):
        g = target.grad(x)
        prop = x - step[:, None] * g
        ok = target.inside(prop)
        fp = np.where(ok, target.loss(np.where(ok[:, None], prop, x)), np.inf)
        acc = ok & (fp < f)
        x[acc], f[acc] = prop[acc], fp[acc]
        step = np.where(acc, step * 1.5, step * 0.5)
        step = np.maximum(step, 1e-12)
    i = int(np.argmin(f))
    return {"min_excess": float(f[i] - target.loss0), "argmin": x[i].tolist(), "starts": starts,
            "valid_starts": int(len(x)), "radii": [float(v) for v in radii], "iters": iters}
