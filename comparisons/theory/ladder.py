"""Switch refinement's ladders: where to insert rungs around a switch, and what a round samples.

Pure functions of the rungs (no sampler): :func:`bayes_tms.occupancy.refine_switches` runs the
rounds with them, and :func:`comparisons.cost.pt_seconds` counts the same rounds for its estimate.
"""

from __future__ import annotations

__all__ = ["bracket_resolved", "refinement_ladder", "refinement_rounds", "rungs_to_insert"]

import bisect
from collections.abc import Mapping, Sequence

import numpy as np


def rungs_to_insert(ns: Sequence[int], switches: Mapping, *, tol: float = 0.02,
                    max_insert: int | None = None) -> list[int]:
    """Rungs to add so that every switch is bracketed within ``tol`` of its ``n``.

    Parameters
    ----------
    ns : sequence of int
        The current ladder.
    switches : xarray.Dataset or mapping
        Switch columns: a transitions hand-off of :func:`bayes_tms.occupancy.transitions` (over
        ``transition``) or a mapping of equal-length sequences, with ``n``, ``n_before``,
        ``n_after`` and, where known, ``lower``, ``upper`` (NaN: unknown).
    tol : float
        A switch resolved by :func:`bracket_resolved` gets no rungs.
    max_insert : int, optional
        Most rungs inserted into one bracket per round (default: no cap): geometric points
        splitting it into ``k + 1`` equal steps in ``log n``, ``k`` the fewest giving integer steps
        within ``tol`` of their lower end, so one round brackets a switch that stays where it was
        within ``tol`` (a paper-preset bracket, ratio 1.19, takes 9 rungs; a quick-preset one,
        ratio 1.4, 19; below n = 100, where 2% is under 2, every integer). A bracket that needs
        more gets ``max_insert`` geometric points, and a later round the rest.

    Returns
    -------
    list of int
        New rungs (not already in ``ns``), sorted.
    """
    have = {int(v) for v in ns}
    new: set[int] = set()
    done = bracket_resolved(switches, tol)
    for a, b, ok in zip(_column(switches, "n_before").astype(int), _column(switches, "n_after").astype(int), done):
        if ok or b - a < 2:
            continue
        new.update(int(v) for v in _bracket_rungs(a, b, tol, max_insert) if v not in have)
    return sorted(new)


def _bracket_rungs(a: int, b: int, tol: float, max_insert: int | None) -> np.ndarray:
    """Integer rungs strictly inside ``(a, b)``: the fewest geometric points for which every step,
    rounded, is within ``tol`` of its lower end (or 1), so that a switch anywhere in the bracket
    is resolved; every integer where steps of 1 are needed; ``max_insert`` geometric points when
    more are needed."""
    k = int(max(1, np.ceil(np.log(b / a) / np.log1p(tol)) - 1))
    while True:
        if k + 1 >= b - a:
            pts = np.arange(a, b + 1)
            break
        pts = np.unique(np.round(np.geomspace(a, b, k + 2)).astype(int))
        if (np.diff(pts) <= np.maximum(tol * pts[:-1], 1)).all():
            break
        k += 1
    if max_insert is not None and len(pts) - 2 > max_insert:
        pts = np.unique(np.round(np.geomspace(a, b, int(max_insert) + 2)).astype(int))
    return pts[(pts > a) & (pts < b)]


def bracket_resolved(switches: Mapping, tol: float) -> np.ndarray:
    """Whether each switch needs no more rungs: bracketed within ``tol`` of its ``n`` (or by neighbouring
    integers), or by rungs no further apart than its interval is wide.

    ``switches``: switch columns, as :func:`rungs_to_insert` reads them (``lower``, ``upper``
    optional; NaN where unknown). Returns a boolean array, one per switch.

    Why the second: where the occupancy difference is flat around the crossing, the copies' noise,
    not the rung spacing, sets the interval; rungs inserted there add crossings of that noise (a
    5 -> 6 -> 5 -> 6 run of sign changes a few n apart), not precision.
    """
    a, b, n = (_column(switches, k) for k in ("n_before", "n_after", "n"))
    width = b - a
    done = width <= np.maximum(tol * n, 1)
    if "lower" in switches and "upper" in switches:
        with np.errstate(invalid="ignore"):  # NaN: no interval, resolved by the first rule only
            done |= width <= _column(switches, "upper") - _column(switches, "lower")
    return done


def _column(switches: Mapping, key: str) -> np.ndarray:
    """One switch column as a float array (a Dataset variable's values or a sequence)."""
    col = switches[key]
    return np.asarray(getattr(col, "values", col), dtype=float).reshape(-1)


def refinement_ladder(base: Sequence[int], sampled: Sequence[int], new: Sequence[int]) -> list[int]:
    """The rungs a switch-refinement round samples: ``new`` and what the walkers need to mix there.

    Parameters
    ----------
    base : sequence of int
        The first run's ladder: the requested rungs and any its sampler added (a PT run's pilots),
        on which the walkers mixed.
    sampled : sequence of int
        Every rung sampled so far (``base`` and the rungs of earlier rounds).
    new : sequence of int
        The rungs inserted this round (:func:`rungs_to_insert`), not in ``sampled``.

    Returns
    -------
    list of int
        Sorted: the ``base`` rungs below the highest new rung, the sampled neighbours of every
        new rung (its bracket: the highest of them tops the sub-ladder) and the new rungs. Why the low rungs: the
        phases trade places at low ``n`` (the posterior there is broad) and the swaps carry them
        up; a window around the switch alone leaves its copies in the phases they started in
        (docs/switch-refinement.md). The rungs above the switch add nothing to it.
    """
    new = sorted(int(v) for v in new)
    if not new:
        return []
    have = sorted({int(v) for v in sampled} | {int(v) for v in base})
    keep = {int(n) for n in base if n <= new[-1]}
    for v in new:
        i = bisect.bisect_left(have, v)
        keep.update(have[max(i - 1, 0):i + 1])
    return sorted(keep | set(new))


def refinement_rounds(ns: Sequence[int], switches: Sequence[float], *, tol: float = 0.02, max_rounds: int = 3,
                      max_insert: int | None = None) -> list[list[int]]:
    """The sub-ladders that switch refinement samples for switches at ``switches`` (a prediction).

    The rounds of :func:`bayes_tms.occupancy.refine_switches` when every switch stays where it
    is: each bracketed by the rungs sampled so far around it, refined by :func:`rungs_to_insert`
    and sampled on :func:`refinement_ladder`, until each is within ``tol`` or ``max_rounds`` ran.

    Returns
    -------
    list of list of int
        One sub-ladder per refinement round (empty: nothing to refine).
    """
    base = sorted(int(n) for n in ns)
    have = list(base)
    inside = [float(s) for s in switches if base and base[0] < s < base[-1]]
    out = []
    for _ in range(max_rounds):
        columns: dict[str, list] = {"n": [], "n_before": [], "n_after": []}
        for s in inside:
            i = bisect.bisect_right(have, s)
            for k, v in zip(columns, (s, have[i - 1], have[i])):
                columns[k].append(v)
        new = rungs_to_insert(have, columns, tol=tol, max_insert=max_insert)
        if not new:
            break
        out.append(refinement_ladder(base, have, new))
        have = sorted(set(have) | set(new))
    return out
