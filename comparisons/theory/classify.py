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

Rule ``"hull"`` (the paper's rule, every draw labelled; :func:`hull_vertices`):

1. Column ``i`` is *non-negligible* when ``|W_i| >= PRESENT_NORM``. At every enumerated critical
   point a column is either zero (``+`` and dead columns) or a polygon vertex of length
   ``l* >= 1``, so the threshold 1/2 sits midway between the two and is the same cut as in the
   gated rule: the two rules differ only in how ``k`` is counted and in the gating.
2. ``k`` = number of vertices of the convex hull of the non-negligible columns (the origin is not
   added: the hull is that of the columns, as in the paper). Degenerate hulls are counted
   explicitly: no column gives ``k = 0``, one point (or coincident columns) ``k = 1``, two
   distinct points or any collinear set ``k = 2`` (the segment's end points). Points on an edge
   and coincident copies are not extra vertices (tolerance :data:`HULL_TOL`, relative).
3. ``sigma`` = negligible columns with ``b_i > 0`` (``+``); ``phi`` = hull-vertex columns switched
   off by their bias, ``|W_i|^2 + b_i <= 0`` (``-``). Non-negligible columns strictly inside the
   hull count neither way.
4. The label is ``phase_label(k, sigma, phi)`` whether or not that phase is an enumerated critical
   point (e.g. ``"1+++++"`` or ``"0++++++"``); nothing is ``"unclassified"``.
"""

from __future__ import annotations

__all__ = ["UNCLASSIFIED", "PRESENT_NORM", "DEFAULT_MAX_DISTANCE", "HULL_TOL", "RULES", "classify",
           "hull_vertices", "hull_structure", "hull_labels", "phase_distances", "classify_dataarrays"]

from typing import Sequence

import numpy as np

from ..errors import InputError, check_finite_array
from .kgons import Phase, enumerate_phases, phase_label

UNCLASSIFIED = "unclassified"
#: a column shorter than this is treated as absent (polygon columns have l* >= 1)
PRESENT_NORM = 0.5
#: largest symmetry-reduced distance at which a structural label is accepted
DEFAULT_MAX_DISTANCE = 0.75
#: relative tolerance of the hull count: coincident points (distance <= HULL_TOL * longest column)
#: count once, and a point whose turn is below HULL_TOL (sine of the angle) lies on an edge
HULL_TOL = 1e-9
#: the labelling rules of :func:`classify`
RULES = ("gated", "hull")
#: the rule of every reported occupancy (the default of the Bayesian configs, jobs and commands):
#: the paper's hull count, which labels every draw (a partition); ``"gated"`` stays available
OCCUPANCY_RULE = "hull"
#: draws per block in :func:`hull_vertices` (bounds the (block, c, c) temporaries)
_HULL_BLOCK = 16384


def check_weights(W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(W, b)`` as float arrays; InputError unless ``W[..., 2, c]`` and ``b[..., c]`` with ``c >= 2``."""
    W = np.asarray(W, dtype=float)
    b = np.asarray(b, dtype=float)
    if W.ndim < 2 or W.shape[-2] != 2 or b.shape != W.shape[:-2] + W.shape[-1:] or W.shape[-1] < 2:
        raise InputError(f"expected W[..., 2, c] and b[..., c] with c >= 2, got shapes {W.shape} and {b.shape}")
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
    norm2 = np.sum(np.abs(zd) ** 2, axis=-1)  # the same for every shift and reflection
    for reflect in (False, True):
        zp = Wp[0] + 1j * Wp[1]
        if reflect:
            zp = np.conj(zp)[::-1]
        for s in range(k):
            zs = np.roll(zp, s)
            inner = np.sum(zd * np.conj(zs), axis=-1)  # optimal rotation aligns by |inner|
            d2 = norm2 + np.sum(np.abs(zs) ** 2) - 2 * np.abs(inner)
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
    W, b = check_weights(W, b)
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


def _hull_vertices_flat(W: np.ndarray, present: np.ndarray, tol: float) -> np.ndarray:
    """:func:`hull_vertices` on ``W[m, 2, c]``, ``present[m, c]``; returns ``(m, c)`` bool."""
    m, _, c = W.shape
    norms = np.linalg.norm(W, axis=1)
    scale = np.max(np.where(present, norms, 0.0), axis=1, initial=0.0)  # (m,)
    out = np.zeros((m, c), dtype=bool)
    cols = np.arange(c)
    for i in range(c):
        D = W - W[:, :, i:i + 1]  # (m, 2, c): vectors from point i to the others
        dn = np.linalg.norm(D, axis=1)  # (m, c)
        other = present & (cols != i)
        dup = other & (dn <= tol * scale[:, None])
        valid = other & ~dup  # distinct other points
        # point i is extreme iff the vectors D_j (j valid) lie in an open half-plane, i.e. some
        # valid D_a has every other valid D_j strictly counter-clockwise within (0, pi) or along it
        cross = D[:, 0, :, None] * D[:, 1, None, :] - D[:, 1, :, None] * D[:, 0, None, :]  # (m, a, j)
        dot = D[:, 0, :, None] * D[:, 0, None, :] + D[:, 1, :, None] * D[:, 1, None, :]
        lim = tol * dn[:, :, None] * dn[:, None, :]
        ok = (cross > lim) | ((np.abs(cross) <= lim) & (dot > 0)) | ~valid[:, None, :]
        extreme = np.any(valid & np.all(ok, axis=2), axis=1) | ~np.any(valid, axis=1)
        out[:, i] = present[:, i] & extreme & ~np.any(dup[:, :i], axis=1)  # a copy counts once
    return out


def hull_vertices(W: np.ndarray, present: np.ndarray | None = None, tol: float = HULL_TOL) -> np.ndarray:
    """Which columns are vertices of the convex hull of the (present) columns.

    Parameters
    ----------
    W : array_like, shape (..., 2, c)
    present : array_like of bool, shape (..., c), optional
        Columns taking part in the hull (default: all).
    tol : float
        Relative tolerance (:data:`HULL_TOL`): columns closer than ``tol`` times the longest
        present column are one point (the lowest index is its vertex), and a turn whose sine is
        below ``tol`` is straight (the middle point lies on an edge, not a vertex).

    Returns
    -------
    ndarray of bool, shape (..., c)
        ``True`` for the columns that are hull vertices. Degenerate hulls: one (possibly repeated)
        point has one vertex, a segment (two points or any collinear set) its two end points.

    Notes
    -----
    Column ``i`` is a vertex iff it is not a convex combination of the other distinct points, i.e.
    iff the vectors to them lie in an open half-plane; tested with cross and dot products, fully
    vectorised over draws (``O(c^3)`` per draw, blocks of draws to bound memory).

    Examples
    --------
    >>> W = np.array([[0.0, 2.0, 1.0, 0.0, 0.5], [0.0, 0.0, 0.0, 2.0, 0.5]])
    >>> hull_vertices(W).astype(int).tolist()  # (1, 0) is on an edge, (0.5, 0.5) inside
    [1, 1, 0, 1, 0]
    """
    W = np.asarray(W, dtype=float)
    if W.ndim < 2 or W.shape[-2] != 2:
        raise InputError(f"expected W[..., 2, c], got shape {W.shape}")
    batch, c = W.shape[:-2], W.shape[-1]
    present = np.ones(batch + (c,), dtype=bool) if present is None else np.asarray(present, dtype=bool)
    if present.shape != batch + (c,):
        raise InputError(f"expected present[..., c] matching W {W.shape}, got shape {present.shape}")
    if not (tol >= 0 and np.isfinite(tol)):
        raise InputError(f"tol: expected a non-negative finite number, got {tol!r}")
    Wf, pf = W.reshape(-1, 2, c), present.reshape(-1, c)
    out = np.zeros(pf.shape, dtype=bool)
    for s in range(0, Wf.shape[0], _HULL_BLOCK):
        out[s:s + _HULL_BLOCK] = _hull_vertices_flat(Wf[s:s + _HULL_BLOCK], pf[s:s + _HULL_BLOCK], tol)
    return out.reshape(batch + (c,))


def hull_structure(W: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(k, sigma, phi)`` of the paper's hull rule (module docstring, rule ``"hull"``).

    Parameters
    ----------
    W : array_like, shape (..., 2, c)
    b : array_like, shape (..., c)

    Returns
    -------
    k, sigma, phi : ndarray of int, shape (...)
        Hull vertices of the non-negligible columns; negligible columns with positive bias;
        hull-vertex columns switched off by their bias.
    """
    W, b = check_weights(W, b)
    norms = np.linalg.norm(W, axis=-2)
    present = norms >= PRESENT_NORM
    vert = hull_vertices(W, present)
    k = vert.sum(axis=-1)
    sigma = (~present & (b > 0)).sum(axis=-1)
    phi = (vert & (norms**2 + b <= 0)).sum(axis=-1)
    return k, sigma, phi


def _classify_hull(Wf: np.ndarray, bf: np.ndarray, phases: Sequence[Phase]) -> tuple[np.ndarray, np.ndarray]:
    """Hull labels and distances on flattened ``Wf[m, 2, c]``, ``bf[m, c]``."""
    return hull_labels(Wf, bf, hull_structure(Wf, bf), phases)


def hull_labels(Wf: np.ndarray, bf: np.ndarray, structure: tuple, phases: Sequence[Phase]) -> tuple[np.ndarray, np.ndarray]:
    """Labels and distances of the hull rule from each draw's ``(k, sigma, phi)``.

    Parameters
    ----------
    Wf, bf : ndarray, shape (m, 2, c) and (m, c)
        Flattened draws.
    structure : tuple of ndarray of int, each shape (m,)
        ``(k, sigma, phi)`` of :func:`hull_structure` (or of its compiled twin,
        :func:`bayes_tms.classify_kernel.hull_structure_compiled`, which gives the same counts).
    phases : sequence of Phase

    Returns
    -------
    labels : ndarray of str, shape (m,)
        ``phase_label(k, sigma, phi)``.
    distance : ndarray of float, shape (m,)
        :func:`phase_distances` to the labelled phase where it is enumerated, else NaN.
    """
    k, sigma, phi = structure
    base = Wf.shape[-1] + 1  # k, sigma, phi <= c: one integer per structure
    code = (k * base + sigma) * base + phi
    uniq, inv = np.unique(code, return_inverse=True)
    names = np.array([phase_label(int(u) // base**2, int(u) // base % base, int(u) % base) for u in uniq],
                     dtype=object)
    labels = names[inv.reshape(-1)].astype(str)
    dist = np.full(Wf.shape[0], np.nan)
    by_label = {p.label: p for p in phases}
    for j, nm in enumerate(names):  # distance only to the labelled critical set: one phase per draw
        if nm in by_label:
            sel = inv.reshape(-1) == j
            dist[sel] = phase_distances(Wf[sel], bf[sel], [by_label[nm]])[:, 0]
    return labels, dist


def classify(W: np.ndarray, b: np.ndarray, phases: Sequence[Phase] | None = None,
             max_distance: float = DEFAULT_MAX_DISTANCE, rule: str = "gated") -> tuple[np.ndarray, np.ndarray]:
    """Label each ``(W, b)`` with its phase (``rule="gated"``: or ``"unclassified"``).

    Parameters
    ----------
    W : array_like, shape (..., 2, c)
    b : array_like, shape (..., c)
    phases : sequence of Phase, optional
        Defaults to ``enumerate_phases(c)``.
    max_distance : float
        Largest accepted :func:`phase_distances` value to the structural candidate (gated rule
        only; the hull rule does not gate).
    rule : {"gated", "hull"}
        ``"gated"`` (default): structure, convex position and distance must all match an
        enumerated phase, else ``"unclassified"``. ``"hull"``: the paper's rule, every draw gets
        ``phase_label(k, sigma, phi)`` from the convex hull of its non-negligible columns, also
        when that label is no enumerated critical point (module docstring).

    Returns
    -------
    labels : ndarray of str, shape (...)
    distance : ndarray of float, shape (...)
        Gated: distance to the labelled phase (to the nearest phase when unclassified). Hull:
        distance to the critical set of the labelled phase when it is enumerated, else NaN
        (only the labelled phase is measured, which keeps 1e5 draws to about a second).

    Examples
    --------
    >>> import numpy as np
    >>> p = enumerate_phases(6)
    >>> six = next(q for q in p if q.label == "6")
    >>> labels, dist = classify(six.W[None], six.b[None], p)
    >>> str(labels[0]), float(dist[0]) < 1e-9
    ('6', True)
    >>> W = six.W.copy(); W[:, 0] *= 0.45  # one vertex pulled inside: the hull has 5 vertices
    >>> str(classify(W, six.b, p)[0]), str(classify(W, six.b, p, rule="hull")[0])
    ('unclassified', '5')
    """
    if not isinstance(rule, str) or rule not in RULES:
        raise InputError(f"rule: expected one of {', '.join(RULES)}, got {' '.join(repr(rule).split())[:60]}")
    W, b = check_weights(check_finite_array("W", W), check_finite_array("b", b))
    c = W.shape[-1]
    phases = tuple(enumerate_phases(c) if phases is None else phases)
    batch = W.shape[:-2]
    Wf = W.reshape(-1, 2, c)
    bf = b.reshape(-1, c)
    if rule == "hull":
        labels, dist = _classify_hull(Wf, bf, phases)
        return labels.reshape(batch), dist.reshape(batch)
    k, sigma, phi, convex = _structure(Wf, bf)
    codes = np.array([(p.k * 16 + p.sigma) * 16 + p.phi for p in phases])
    code = (k * 16 + sigma) * 16 + phi
    match = code[:, None] == codes[None, :]  # at most one phase per structure
    has = match.any(axis=1) & convex
    j = np.argmax(match, axis=1)
    # the distance to the structural candidate first (one phase per draw); the distance to every
    # phase only for the draws that stay unclassified (their reported distance is the nearest)
    cand = np.full(len(j), np.inf)
    for jj in np.unique(j[has]):
        sel = has & (j == jj)
        cand[sel] = phase_distances(Wf[sel], bf[sel], [phases[jj]])[:, 0]
    ok = has & (cand <= max_distance)
    names = np.array([p.label for p in phases] + [UNCLASSIFIED], dtype=object)
    labels = names[np.where(ok, j, len(phases))]
    chosen = np.where(ok, cand, np.inf)
    if phases and not ok.all():
        chosen[~ok] = np.min(phase_distances(Wf[~ok], bf[~ok], phases), axis=1)
    return labels.astype(str).reshape(batch), chosen.reshape(batch)


def classify_dataarrays(W, b, phases: Sequence[Phase] | None = None,
                        max_distance: float = DEFAULT_MAX_DISTANCE, rule: str = "gated"):
    """:func:`classify` on labelled ``xarray.DataArray`` inputs.

    ``W`` has dims ``(..., "hidden", "feature")`` and ``b`` ``(..., "feature")``; returns
    ``(phase, phase_distance)`` DataArrays over the remaining dims (e.g. ``(chain, draw)`` or
    ``(run, step)``). ``rule`` is passed to :func:`classify` and recorded in the ``rule``
    attribute of both outputs.
    """
    import xarray as xr

    Wt = W.transpose(..., "hidden", "feature")
    bt = b.transpose(*[d for d in Wt.dims if d != "hidden"])
    labels, dist = classify(Wt.values, bt.values, phases, max_distance, rule)
    dims = [d for d in Wt.dims if d not in ("hidden", "feature")]
    coords = {d: Wt.coords[d] for d in dims if d in Wt.coords}
    attrs = {"rule": rule}
    return (xr.DataArray(labels, dims=dims, coords=coords, name="phase", attrs=attrs),
            xr.DataArray(dist, dims=dims, coords=coords, name="phase_distance", attrs=attrs))
