"""Phase classifier: which decorated k-gon a parameter ``(W, b)`` sits near.

Works on plain arrays batched over leading dimensions (NUTS draws ``(chain, draw)``, SGD
checkpoints ``(run, step)``); :func:`classify_dataarrays` names the dimensions.

Rule (the paper's hull count, made explicit and gated):

1. Column ``i`` is *present* when ``|W_i| >= PRESENT_NORM``; a present column *fires* for its own
   feature when ``|W_i|^2 + b_i > 0``, else it is switched off (a ``-``).
2. Absent columns with ``b_i > 0`` are ``+`` decorations, the others dead.
3. ``k`` = number of present columns; they must be in convex position around the origin (every
   angular gap below pi and no reflex vertex), i.e. ``k`` equals the number of convex-hull vertices.
4. The candidate label ``k + sigma*"+" + phi*"-"`` must be an enumerated phase, and the
   symmetry-reduced distance to it (:func:`phase_distances`) must be below ``max_distance``.

Anything else is ``"unclassified"``: the classifier never guesses.
"""

from __future__ import annotations

__all__ = ["UNCLASSIFIED", "PRESENT_NORM", "DEFAULT_MAX_DISTANCE", "classify", "phase_distances",
           "classify_dataarrays"]

from typing import Sequence

import numpy as np

from ..errors import InputError, check_finite_array
from .kgons import Phase, enumerate_phases

UNCLASSIFIED = "unclassified"
#: a column shorter than this is treated as absent (polygon columns have l* >= 1)
PRESENT_NORM = 0.5
#: largest symmetry-reduced distance at which a structural label is accepted
DEFAULT_MAX_DISTANCE = 0.75


def _check(W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    W = np.asarray(W, dtype=float)
    b = np.asarray(b, dtype=float)
    if W.ndim < 2 or W.shape[-2] != 2 or b.shape != W.shape[:-2] + W.shape[-1:]:
        raise InputError(f"expected W[..., 2, c] and b[..., c], got shapes {W.shape} and {b.shape}")
    return W, b


def _polygon_distance2(Wd: np.ndarray, Wp: np.ndarray) -> np.ndarray:
    """Squared O(2)-and-cyclic-order reduced distance between polygons.

    ``Wd[m, 2, k]`` (draws, columns sorted by angle) and ``Wp[2, k]`` (sorted by angle): the
    minimum over cyclic shifts and reflections of the Procrustes distance with the optimal
    rotation. Returns shape ``(m,)``.
    """
    k = Wp.shape[-1]
    best = np.full(Wd.shape[0], np.inf)
    zd = Wd[:, 0] + 1j * Wd[:, 1]  # (m, k) complex
    for reflect in (False, True):
        zp = Wp[0] + 1j * Wp[1]
        if reflect:
            zp = np.conj(zp)[::-1]
        for s in range(k):
            zs = np.roll(zp, s)
            inner = np.sum(zd * np.conj(zs), axis=-1)  # optimal rotation aligns by |inner|
            d2 = np.sum(np.abs(zd) ** 2, axis=-1) + np.sum(np.abs(zs) ** 2) - 2 * np.abs(inner)
            best = np.minimum(best, d2)
    return np.maximum(best, 0.0)


def phase_distances(W: np.ndarray, b: np.ndarray, phases: Sequence[Phase]) -> np.ndarray:
    """Distance from each ``(W, b)`` to each phase's critical set, modulo symmetry.

    Parameters
    ----------
    W : array_like, shape (..., 2, c)
    b : array_like, shape (..., c)
    phases : sequence of Phase
        Phases of the same ``c`` (from :func:`enumerate_phases`).

    Returns
    -------
    ndarray, shape (..., len(phases))

    Notes
    -----
    For phase ``(k, sigma, phi)`` the ``k`` longest columns are matched to the polygon (sorted
    by angle, best cyclic shift, reflection and rotation), the ``sigma`` absent columns of largest
    bias to the ``+`` columns (target ``W_i = 0``, ``b_i = 1/(2c)``), the rest to dead columns
    (target ``W_i = 0``, any ``b_i <= 0``). Live polygon biases are matched to ``b*`` and
    switched-off ones only need ``b_i <= -l*^2`` (hinge), so the flat directions of the critical
    set cost nothing.
    """
    W, b = _check(W, b)
    batch = W.shape[:-2]
    c = W.shape[-1]
    Wf = W.reshape(-1, 2, c)
    bf = b.reshape(-1, c)
    m = Wf.shape[0]
    norms = np.linalg.norm(Wf, axis=1)  # (m, c)
    order = np.argsort(-norms, axis=1, kind="stable")
    Ws = np.take_along_axis(Wf, order[:, None, :], axis=2)
    bs = np.take_along_axis(bf, order, axis=1)
    out = np.empty((m, len(phases)))
    for j, p in enumerate(phases):
        if p.c != c:
            raise InputError(f"phase {p.label!r} is for c = {p.c}, got parameters with c = {c}")
        k = p.k
        poly = Ws[:, :, :k]
        ang = np.arctan2(poly[:, 1], poly[:, 0])
        ao = np.argsort(ang, axis=1)
        poly = np.take_along_axis(poly, ao[:, None, :], axis=2)
        d2 = _polygon_distance2(poly, p.W[:, :k])
        # polygon biases: the k - phi highest match b*, the phi lowest only need to be off
        pb = np.sort(bs[:, :k], axis=1)[:, ::-1]
        d2 += np.sum((pb[:, : k - p.phi] - p.bias) ** 2, axis=1)
        d2 += np.sum(np.maximum(pb[:, k - p.phi:] + p.length**2, 0.0) ** 2, axis=1)
        rest_b = np.sort(bs[:, k:], axis=1)[:, ::-1]
        d2 += np.sum(Ws[:, :, k:] ** 2, axis=(1, 2))
        d2 += np.sum((rest_b[:, : p.sigma] - 1.0 / (2 * c)) ** 2, axis=1)
        d2 += np.sum(np.maximum(rest_b[:, p.sigma:], 0.0) ** 2, axis=1)
        out[:, j] = np.sqrt(d2)
    return out.reshape(batch + (len(phases),))


def _structure(W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per draw: (k, sigma, phi, convex) from the column roles; inputs flattened (m, 2, c)."""
    norms = np.linalg.norm(W, axis=1)
    present = norms >= PRESENT_NORM
    fires = norms**2 + b > 0
    k = present.sum(axis=1)
    phi = (present & ~fires).sum(axis=1)
    sigma = (~present & (b > 0)).sum(axis=1)
    # convex position: sort present columns by angle, check gaps < pi and no reflex vertex
    ang = np.where(present, np.arctan2(W[:, 1], W[:, 0]), np.inf)
    order = np.argsort(ang, axis=1)
    P = np.take_along_axis(W, order[:, None, :], axis=2)  # present columns first, by angle
    ang_s = np.take_along_axis(ang, order, axis=1)
    convex = np.ones(W.shape[0], dtype=bool)
    for kk in np.unique(k):
        sel = k == kk
        if kk < 3:
            # two columns must be (nearly) antipodal to be a 2-gon; one column is never a k-gon
            if kk == 2:
                u = P[sel][:, :, :2]
                cosang = np.sum(u[:, :, 0] * u[:, :, 1], axis=1) / np.prod(np.linalg.norm(u, axis=1), axis=1)
                convex[sel] = cosang < -0.5
            elif kk < 2:
                convex[sel] = False
            continue
        pts = P[sel][:, :, :kk]
        a = ang_s[sel][:, :kk]
        gaps = np.diff(np.concatenate([a, a[:, :1] + 2 * np.pi], axis=1), axis=1)
        prev = np.roll(pts, 1, axis=2)
        nxt = np.roll(pts, -1, axis=2)
        e1 = pts - prev
        e2 = nxt - pts
        cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
        convex[sel] = np.all(gaps < np.pi, axis=1) & np.all(cross > 0, axis=1)
    return k, sigma, phi, convex


def classify(W: np.ndarray, b: np.ndarray, phases: Sequence[Phase] | None = None,
             max_distance: float = DEFAULT_MAX_DISTANCE) -> tuple[np.ndarray, np.ndarray]:
    """Label each ``(W, b)`` with its phase, or ``"unclassified"``.

    Parameters
    ----------
    W : array_like, shape (..., 2, c)
    b : array_like, shape (..., c)
    phases : sequence of Phase, optional
        Defaults to ``enumerate_phases(c)``.
    max_distance : float
        Largest accepted :func:`phase_distances` value to the structural candidate.

    Returns
    -------
    labels : ndarray of str, shape (...)
    distance : ndarray of float, shape (...)
        Distance to the labelled phase (to the nearest phase when unclassified).

    Examples
    --------
    >>> import numpy as np
    >>> p = enumerate_phases(6)
    >>> six = next(q for q in p if q.label == "6")
    >>> labels, dist = classify(six.W[None], six.b[None], p)
    >>> str(labels[0]), float(dist[0]) < 1e-9
    ('6', True)
    """
    W, b = _check(check_finite_array("W", W), check_finite_array("b", b))
    c = W.shape[-1]
    phases = tuple(enumerate_phases(c) if phases is None else phases)
    batch = W.shape[:-2]
    Wf = W.reshape(-1, 2, c)
    bf = b.reshape(-1, c)
    dist = phase_distances(Wf, bf, phases)
    k, sigma, phi, convex = _structure(Wf, bf)
    codes = np.array([(p.k * 16 + p.sigma) * 16 + p.phi for p in phases])
    code = (k * 16 + sigma) * 16 + phi
    match = code[:, None] == codes[None, :]  # at most one phase per structure
    has = match.any(axis=1) & convex
    j = np.argmax(match, axis=1)
    cand = dist[np.arange(len(j)), j] if dist.size else np.full(len(j), np.inf)
    ok = has & (cand <= max_distance)
    names = np.array([p.label for p in phases] + [UNCLASSIFIED], dtype=object)
    labels = names[np.where(ok, j, len(phases))]
    chosen = np.where(ok, cand, np.min(dist, axis=1) if dist.size else np.inf)
    return labels.astype(str).reshape(batch), chosen.reshape(batch)


def classify_dataarrays(W, b, phases: Sequence[Phase] | None = None,
                        max_distance: float = DEFAULT_MAX_DISTANCE):
    """:func:`classify` on labelled ``xarray.DataArray`` inputs.

    ``W`` has dims ``(..., "hidden", "feature")`` and ``b`` ``(..., "feature")``; returns
    ``(phase, phase_distance)`` DataArrays over the remaining dims (e.g. ``(chain, draw)`` or
    ``(run, step)``).
    """
    import xarray as xr

    Wt = W.transpose(..., "hidden", "feature")
    bt = b.transpose(*[d for d in Wt.dims if d != "hidden"])
    labels, dist = classify(Wt.values, bt.values, phases, max_distance)
    dims = [d for d in Wt.dims if d not in ("hidden", "feature")]
    coords = {d: Wt.coords[d] for d in dims if d in Wt.coords}
    return (xr.DataArray(labels, dims=dims, coords=coords, name="phase"),
            xr.DataArray(dist, dims=dims, coords=coords, name="phase_distance"))
