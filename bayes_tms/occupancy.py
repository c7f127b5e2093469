"""Phase occupancy of the posterior against ``n``, with bootstrap intervals over chains.

Estimator (documented choice): chains start from independent prior draws and, at large ``n``, do
not cross between phases, so each chain is one (correlated) sample of "which basin". The
occupancy of phase ``p`` at ``n`` is the fraction of all draws labelled ``p``; its 95% interval is
the percentile bootstrap over chains (chains resampled with replacement, ``B`` replicates,
seeded). Each chain's phase is the majority label of its draws, and the number of label changes
between consecutive classified draws is reported as its within-chain switches.

Calibration (``calibrate=True``, the default): a percentile bootstrap over a handful of chains is
too narrow (its spread is the plug-in variance, short by ``(C-1)/C``, and its quantiles are
normal ones where the chain mean has ``C - 1`` degrees of freedom). The replicates are therefore
stretched about the point estimate, per phase, by ``sqrt(C/(C-1)) t_{C-1}/z`` (the Student
factor of a ``C``-chain mean) times ``max(1, SE_batch / SE_chain)``: the standard error from
batch means (every chain cut into ``batches`` contiguous batches, ``C x batches`` means) where
it exceeds the one across chains, so that chains which happen to agree do not make the interval
narrower than the within-chain noise allows. Stretched replicates are clipped to ``[0, 1]``.
``tests/test_occupancy_calibration.py`` checks the coverage on a toy with known masses.

Dominance (:func:`dominance`, :func:`dominance_table`): the dominant phase at ``n`` is the
plurality of *all* posterior mass, ``"unclassified"`` competing like any label
(``dominant_all``). The plurality among classified draws only is ``dominant_classified``; the two
differ exactly when the unclassified mass is the largest, and then ``classified_leads`` is False:
that phase leads only among classified draws and is reported as such, with the
``unclassified_fraction`` at that ``n``.

Transitions: the classified plurality is tracked along the ladder (only phases have free energies
to compare with); where it changes from ``A`` to ``B`` the switch point is the log-linear
interpolation of the root of ``f_B - f_A`` between neighbouring ``n``; its interval is the
2.5-97.5 percentile of the same root over bootstrap replicates. Each crossing is searched for only
in its own *window*: from the rung after the previous change of the plurality to the rung before
the next one, so a switch that repeats (``5 -> 6 -> 5 -> 6``) gets one interval per crossing and
no interval reaches into another crossing. Within the window a replicate contributes its sign
change nearest the observed one; a replicate without a sign change contributes the window edge
on its side, so the interval is honest about censoring. Each transition also
carries the dominance on both sides, so a switch between phases that lead only the classified
draws is flagged (``"dominance": "classified_only"``) rather than presented as a change of the
dominant phase. Families (``"5"`` = ``5, 5+, 5-, ...``) are tracked the same way. Predictions are
at the run's inverse temperature ``beta`` (they depend on ``n beta`` only).
"""

from __future__ import annotations

__all__ = ["family", "chain_summary", "labelled_occupancy", "posterior_attrs", "cell_arrays", "occupancy_table", "interval_scale", "window_roots", "rungs_to_insert",
           "draw_labels", "refine_switches", "refinement_ladder", "mark_resolved", "dominance", "dominance_table", "transitions",
           "diagnostics_table", "predicted_crossing", "predicted_crossing_laplace", "add_predictions"]

import functools
import re
from typing import Mapping, Sequence

import numpy as np
import xarray as xr

from comparisons.contracts import (TRANSITION_FIELDS, phase_order, validate_diagnostics, validate_occupancy,
                                  validate_transitions)
from comparisons.theory import (UNCLASSIFIED, check_beta, child_rng, crossings, dominant_intervals, enumerate_phases,
                                laplace_crossings)
from comparisons.theory.ladder import bracket_resolved, refinement_ladder, rungs_to_insert


def family(label: str) -> str:
    """The k-gon family of a phase label: ``"5+-"`` -> ``"5"``; unclassified stays."""
    m = re.match(r"^(\d+)", str(label))
    return m.group(1) if m else str(label)


def draw_labels(idata, level: str = "phase") -> np.ndarray:
    """The phase label of every draw of a labelled posterior, shape ``(chain, draw)`` (str).

    ``level``: ``"phase"`` (the posterior's ``phase`` variable as stored) or ``"family"`` (its
    k-gon family, :func:`family`).
    """
    lab = idata.posterior["phase"].transpose("chain", "draw").values.astype(str)
    if level == "family" and lab.size:  # each distinct label once (a ladder holds ~10 of them)
        names, codes = np.unique(lab, return_inverse=True)
        lab = np.array([family(v) for v in names], dtype=str)[codes.reshape(lab.shape)]
    return lab


def chain_summary(idata, level: str = "phase") -> list[dict]:
    """Per chain: ``{"chain", "phase" (majority label), "switches", "classified"}``."""
    return _chain_summary(draw_labels(idata, level))


def _chain_summary(lab: np.ndarray) -> list[dict]:
    """:func:`chain_summary` of the labels ``lab (chains, draws)``: the majority label (ties to the
    first in sorted order), the label changes between consecutive classified draws, the classified
    share."""
    names, codes = np.unique(lab, return_inverse=True)
    codes = codes.reshape(lab.shape)
    unc = np.flatnonzero(names == UNCLASSIFIED)
    out = []
    for ci, row in enumerate(codes):
        cls = row[row != unc[0]] if unc.size else row
        switches = int(np.sum(cls[1:] != cls[:-1])) if cls.size > 1 else 0
        out.append({"chain": ci, "phase": str(names[np.argmax(np.bincount(row, minlength=len(names)))]),
                    "switches": switches, "classified": float(cls.size / row.size)})
    return out


def _boot_indices(n_chains: int, B: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, n_chains, size=(B, n_chains))


def interval_scale(per_chain: np.ndarray, batch_means: np.ndarray | None = None, *,
                   alpha: float = 0.05) -> np.ndarray:
    """Factor by which bootstrap replicates over chains are stretched about the point estimate.

    Parameters
    ----------
    per_chain : ndarray, shape (C, P)
        Per-chain fractions of ``P`` labels.
    batch_means : ndarray, shape (M, P), optional
        Fractions over ``M`` contiguous batches of draws (``C x batches``); all batches of equal length.
    alpha : float
        Two-sided level.

    Returns
    -------
    ndarray, shape (P,)
        ``sqrt(C/(C-1)) t_{C-1}(1 - alpha/2) / z(1 - alpha/2)`` times
        ``max(1, SE_batch / SE_chain)`` per label (1 with fewer than two chains). Why: see the
        module docstring (a percentile bootstrap over few chains under-covers).
    """
    from scipy import stats

    per_chain = np.asarray(per_chain, dtype=float)
    C, P = per_chain.shape
    if C < 2:
        return np.ones(P)
    q = 1 - alpha / 2
    base = np.sqrt(C / (C - 1)) * stats.t.ppf(q, C - 1) / stats.norm.ppf(q)
    ratio = np.ones(P)
    if batch_means is not None and len(batch_means) > C:
        se_chain = per_chain.std(axis=0, ddof=1) / np.sqrt(C)
        se_batch = np.asarray(batch_means, dtype=float).std(axis=0, ddof=1) / np.sqrt(len(batch_means))
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(se_chain > 0, np.maximum(1.0, se_batch / se_chain), 1.0)
    return base * ratio


def _batch_means(lab: np.ndarray, names: Sequence[str], batches: int) -> np.ndarray | None:
    """Fractions per name over ``batches`` contiguous, equal batches of every chain: (C * batches, P)."""
    C, K = lab.shape
    if batches < 2 or K < 2 * batches:
        return None
    k = K // batches
    blocks = lab[:, :k * batches].reshape(C * batches, k)
    return np.stack([(blocks == nm).mean(axis=1) for nm in names], axis=-1)


def _fractions(lab: np.ndarray, names: Sequence[str], idx: np.ndarray | None = None) -> np.ndarray:
    """Fractions per name: shape (len(names),) or (B, len(names)) with chain indices ``idx``."""
    per_chain = np.stack([(lab == nm).mean(axis=1) for nm in names], axis=-1)  # (chains, P)
    if idx is None:
        return per_chain.mean(axis=0)
    return per_chain[idx].mean(axis=1)  # (B, P)


#: how :func:`occupancy_table` derives its bootstrap streams from ``seed`` (recorded in the attrs)
OCCUPANCY_SEED_RULE = "child_rng(seed, 'bayes', 'bootstrap', 'occupancy', n): one stream per n"


def labelled_occupancy(ns: Sequence[int], names: Sequence[str], values: Mapping[str, np.ndarray], *,
                       estimator: str, level: str, attrs: Mapping | None = None) -> xr.Dataset:
    """The occupancy hand-off (:data:`comparisons.contracts.OCCUPANCY`) of one estimator.

    Parameters
    ----------
    ns : sequence of int, length R
        The ladder.
    names : sequence of str, length P
        Phase labels, in the order of :func:`comparisons.contracts.phase_order`.
    values : mapping variable -> ndarray, shape (R, P)
        ``fraction``, ``lower``, ``upper`` (NaN where the estimator reports no cell), ``chains``
        (integers, -1 where none) and optionally ``log_mass``, ``log_mass_lower``,
        ``log_mass_upper`` or further per-cell numbers.
    estimator : str
        The estimator's name (the one label of the ``estimator`` dim).
    level : {"phase", "family"}
    attrs : mapping, optional
        What made it: sampler, classifier, beta, seed rule, bootstrap size.

    Returns
    -------
    xarray.Dataset
        Dims ``(estimator, n, phase)`` with ``estimator`` of length one, validated.
    """
    dims = ("estimator", "n", "phase")
    ds = xr.Dataset({k: (dims, np.asarray(v)[None]) for k, v in values.items()},
                    coords={"estimator": np.array([estimator], dtype=str), "n": np.array(ns, dtype=np.int64),
                            "phase": np.array(names, dtype=str)},
                    attrs={"level": level, **{k: v for k, v in (attrs or {}).items() if v is not None}})
    return validate_occupancy(ds)


def posterior_attrs(posteriors: Mapping[int, object]) -> dict:
    """``beta`` and ``classifier`` of a ladder of posteriors (their attrs), None where not recorded."""
    first = next(iter(posteriors.values()), None)
    got = dict(getattr(getattr(first, "posterior", None), "attrs", {}) or {})
    return {"beta": float(got["beta"]) if "beta" in got else None,
            "classifier": str(got["classifier"]) if "classifier" in got else None}


def occupancy_table(posteriors: Mapping[int, object], *, B: int = 1000, seed: int = 0,
                    level: str = "phase", alpha: float = 0.05, calibrate: bool = True,
                    batches: int = 4, estimator: str = "raw", sampler: str | None = None) -> tuple[xr.Dataset, dict]:
    """Draw fractions of every observed phase at every ``n``, with bootstrap intervals over chains.

    Returns the occupancy hand-off (:func:`labelled_occupancy`: ``fraction, lower, upper,
    chains`` over ``(estimator, n, phase)``; ``chains`` is the number of chains whose majority
    label is ``phase``; a phase not seen at an ``n`` is NaN there, ``chains`` -1) whose attrs
    say ``sampler``, ``classifier`` and ``beta`` (of the posteriors, where recorded), the bootstrap seed
    and its rule and the bootstrap size. Also returns the bootstrap replicates ``{n: (names, boot
    (B, P), point (P,))}`` used by :func:`transitions`. With ``calibrate`` the replicates are
    stretched by :func:`interval_scale` (chains and ``batches`` batch means per chain; see the
    module docstring), else they are the plain percentile bootstrap over chains.
    """
    cells, reps = {}, {}
    for n in sorted(posteriors):
        lab = draw_labels(posteriors[n], level)
        names = sorted(set(np.unique(lab)) | {UNCLASSIFIED}, key=phase_order)
        rng = child_rng(seed, "bayes", "bootstrap", "occupancy", int(n))
        idx = _boot_indices(lab.shape[0], B, rng)
        point = _fractions(lab, names)
        boot = _fractions(lab, names, idx)
        if calibrate:
            scale = interval_scale(np.stack([(lab == nm).mean(axis=1) for nm in names], axis=-1),
                                   _batch_means(lab, names, batches), alpha=alpha)
            boot = np.clip(point + scale * (boot - point), 0.0, 1.0)
        lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2], axis=0)
        majority = [c["phase"] for c in _chain_summary(lab)]
        for j, nm in enumerate(names):
            cells[int(n), nm] = (point[j], lo[j], hi[j], sum(m == nm for m in majority))
        reps[int(n)] = (names, boot, point)
    ns = sorted(reps)
    names = sorted({nm for _, nm in cells}, key=phase_order)
    values = cell_arrays(ns, names, cells, ("fraction", "lower", "upper", "chains"))
    return labelled_occupancy(ns, names, values, estimator=estimator, level=level,
                              attrs={"sampler": sampler, **posterior_attrs(posteriors), "bootstrap_seed": int(seed),
                                     "seed_rule": OCCUPANCY_SEED_RULE, "bootstrap": int(B), "alpha": float(alpha),
                                     "calibrated": int(calibrate)}), reps


def cell_arrays(ns: Sequence[int], names: Sequence[str], cells: Mapping[tuple, tuple],
                 keys: Sequence[str]) -> dict[str, np.ndarray]:
    """``{(n, name): numbers}`` -> one (R, P) array per key (NaN, or -1 for ``chains``, where absent)."""
    ni, pj = {n: i for i, n in enumerate(ns)}, {p: j for j, p in enumerate(names)}
    out = {k: (np.full((len(ns), len(names)), -1, dtype=np.int64) if k == "chains"
               else np.full((len(ns), len(names)), np.nan)) for k in keys}
    for (n, nm), vals in cells.items():
        for k, v in zip(keys, vals):
            out[k][ni[n], pj[nm]] = v
    return out


def dominance(names: Sequence[str], frac: np.ndarray) -> dict:
    """Who leads the posterior mass at one ``n``.

    Parameters
    ----------
    names : sequence of str, length P
        Labels, possibly including ``"unclassified"``.
    frac : array_like, shape (P,)
        Their fractions of the posterior mass (summing to one over all labels).

    Returns
    -------
    dict
        ``dominant_all``: plurality of all mass, ``"unclassified"`` competing like any label;
        ``dominant_classified``: plurality among the classified labels (``"unclassified"`` when
        there are none); ``unclassified_fraction``: mass of ``"unclassified"``;
        ``classified_leads``: True when the two agree, i.e. the classified plurality is the
        plurality of all mass, False when it leads only among classified draws. Ties go to the
        first label in ``names`` order.
    """
    frac = np.asarray(frac, dtype=float)
    order = [int(j) for j in np.argsort(-frac, kind="stable")]
    top_all = names[order[0]] if order else UNCLASSIFIED
    cls = [j for j in order if names[j] != UNCLASSIFIED]
    top_cls = names[cls[0]] if cls else UNCLASSIFIED
    unc = float(sum(frac[j] for j in range(len(names)) if names[j] == UNCLASSIFIED))
    return {"dominant_all": str(top_all), "dominant_classified": str(top_cls), "unclassified_fraction": unc,
            "classified_leads": bool(top_all == top_cls)}


def dominance_table(reps: Mapping[int, tuple]) -> list[dict]:
    """:func:`dominance` at every ``n`` of the ladder.

    Parameters
    ----------
    reps : mapping n -> (names, boot (B, P), point (P,))
        As returned by :func:`occupancy_table` or :func:`bayes_tms.reweight.reweighted_occupancy`.

    Returns
    -------
    list of dict
        ``{"n", "dominant_all", "dominant_classified", "unclassified_fraction",
        "classified_leads"}`` sorted by ``n``.
    """
    return [{"n": int(n), **dominance(reps[n][0], reps[n][2])} for n in sorted(reps)]


def _loglin(ns: np.ndarray, d: np.ndarray, i: int) -> float:
    """Log-linear root of ``d`` between ``ns[i]`` (``d < 0``) and ``ns[i + 1]`` (``d >= 0``)."""
    t = -d[i] / (d[i + 1] - d[i])
    return float(np.exp(np.log(ns[i]) + t * (np.log(ns[i + 1]) - np.log(ns[i]))))


def window_roots(ns: np.ndarray, d: np.ndarray, i: int, lo: int, hi: int) -> np.ndarray:
    """Roots of each row of ``d`` in the window ``ns[lo..hi]``, nearest the crossing at ``i``.

    Parameters
    ----------
    ns : ndarray, shape (R,)
        The ladder.
    d : ndarray, shape (B, R)
        ``f_B - f_A`` per replicate (negative where ``A`` leads).
    i : int
        The observed crossing lies between ``ns[i]`` and ``ns[i + 1]``; ``lo <= i < hi``.
    lo, hi : int
        Window (inclusive rung indices), bounded by the neighbouring crossings.

    Returns
    -------
    ndarray, shape (B,)
        Per row the log-linear root of the upward sign change (``d[k] < 0 <= d[k+1]``) nearest
        ``i`` inside the window; a row without one is censored at the window edge on its side
        (``ns[hi]`` if ``A`` still leads at ``ns[i + 1]``, else ``ns[lo]``).
    """
    d = np.atleast_2d(np.asarray(d, dtype=float))
    ks = np.arange(lo, hi)
    up = (d[:, lo:hi] < 0) & (d[:, lo + 1:hi + 1] >= 0)  # (B, hi - lo)
    out = np.where(d[:, i + 1] < 0, float(ns[hi]), float(ns[lo]))
    dist = np.where(up, np.abs(ks - i)[None, :], np.iinfo(np.int64).max)
    has = up.any(axis=1)
    k = ks[np.argmin(dist, axis=1)]
    for r in np.flatnonzero(has):
        out[r] = _loglin(ns, d[r], int(k[r]))
    return out


def predicted_crossing(a: str, b: str, near: float, features: int, level: str = "phase",
                       prior_sigma: float = 1.0, n_max: float = 1e5, beta: float = 1.0) -> float | None:
    """Free-energy prediction of the ``a -> b`` switch nearest ``near`` (theory layer).

    Phase level: the crossings of ``F_n(a) = F_n(b)``. Family level: the boundaries of the
    theory's dominant-phase intervals whose families go ``a -> b``, else the crossings of any
    members of the two families. All at inverse temperature ``beta`` (the posterior
    ``exp(-n beta L_n)``), so the prediction scales as ``1 / beta``.
    """
    phases = enumerate_phases(features)
    if level == "phase":
        pair = [p for p in phases if p.label in (a, b)]
        if len(pair) < 2:  # a label the enumeration lacks (unclassified, a toy's): no prediction
            return None
        cand = [e["n"] for e in crossings(pair, n_max=n_max, prior_sigma=prior_sigma, beta=beta)]
    else:
        iv = dominant_intervals(phases, n_min=10.0, n_max=n_max, prior_sigma=prior_sigma, beta=beta)
        cand = [x["n_to"] for x, y in zip(iv[:-1], iv[1:])
                if family(x["phase"]) == a and family(y["phase"]) == b]
        if not cand:
            sub = [p for p in phases if family(p.label) in (a, b)]
            cand = [e["n"] for e in crossings(sub, n_max=n_max, prior_sigma=prior_sigma, beta=beta)
                    if {family(e["from"]), family(e["to"])} == {a, b}]
    if not cand:
        return None
    return float(min(cand, key=lambda v: abs(np.log(v) - np.log(near))))


@functools.lru_cache(maxsize=256)  # a Monte Carlo integral per call; every run of a ladder asks again
def _laplace_pair(a: str, b: str, features: int, prior_sigma: float, beta: float) -> tuple:
    """Every crossing of the Laplace free energies of the phases labelled ``a`` and ``b``, as
    ``((from, to, n), ...)`` in increasing ``n`` (:func:`comparisons.theory.laplace_crossings`)."""
    by = {p.label: p for p in enumerate_phases(features)}
    if a not in by or b not in by:
        return ()
    return tuple((e["from"], e["to"], e["n"]) for e in laplace_crossings(by[a], by[b], prior_sigma=prior_sigma, beta=beta))


def predicted_crossing_laplace(a: str, b: str, features: int, prior_sigma: float = 1.0,
                               beta: float = 1.0, near: float | None = None) -> float | None:
    """The Laplace prediction, with the O(1) terms, of a switch ``a -> b`` at inverse temperature ``beta``.

    Two phases can cross twice (:func:`comparisons.theory.laplace_crossings`: at c = 8 the hexagon
    leads the pentagon below n = 37 and again from 193). Without ``near``: the first ``n`` where
    ``b`` takes over from ``a`` (:func:`comparisons.theory.laplace_crossing`), the prediction of a
    switch not yet seen. With ``near`` (an observed switch's ``n``): the crossing of the pair
    nearest it in ``log n``, in either direction, as :func:`predicted_crossing` judges the
    asymptotic one, so that a switch back (``6 -> 5`` just above a ``5 -> 6``) is judged against
    the crossing it flickers around. For families, their undecorated members. None where either
    sits on a wall, or they do not cross (without ``near``: ``b`` never takes over from ``a``).
    """
    cross = _laplace_pair(a, b, int(features), float(prior_sigma), float(beta))
    if near is None:
        return next((n for _, to, n in cross if to == b), None)
    if not cross:
        return None
    return float(min((n for *_, n in cross), key=lambda v: abs(np.log(v) - np.log(near))))


def transitions(reps: Mapping[int, tuple], *, features: int, level: str = "phase",
                prior_sigma: float = 1.0, alpha: float = 0.05, beta: float = 1.0) -> xr.Dataset:
    """Changes of the (classified) dominant phase along the ladder, with bootstrap intervals.

    Parameters
    ----------
    reps : mapping n -> (names, boot (B, P), point (P,))
        From :func:`occupancy_table` or :func:`bayes_tms.reweight.reweighted_occupancy`.
    features : int
    level : {"phase", "family"}
    prior_sigma : float
    alpha : float
        Two-sided level of the bootstrap interval.
    beta : float
        Inverse temperature of the run; the predictions are made at it.

    Returns
    -------
    xarray.Dataset
        The transitions hand-off (:data:`comparisons.contracts.TRANSITIONS`), one ``transition``
        per change: ``from``, ``to`` (string labels), ``n``, ``lower``, ``upper``, ``predicted_n``,
        ``predicted_n_laplace``, ``n_before``, ``n_after`` (integers), ``level``: ``from``/``to``
        are the classified pluralities at ``n_before``/``n_after`` (:func:`dominance`),
        ``predicted_n`` from the asymptotic formula, ``predicted_n_laplace`` with the O(1) terms
        (:mod:`comparisons.theory.laplace`), both at ``beta`` (NaN where there is none). Also
        ``beta``; ``dominant_all_before``/``dominant_all_after`` and
        ``unclassified_before``/``unclassified_after`` (the plurality of all mass and the
        unclassified fraction at ``n_before``/``n_after``); and ``dominance``: ``"all"`` when
        ``from`` leads all the mass at ``n_before`` and ``to`` at ``n_after``, else
        ``"classified_only"`` (the switch is between phases that lead only the classified draws).
        Attrs ``features``, ``prior_sigma``, ``beta``, ``alpha``.
    """
    beta = check_beta(beta)
    ns = np.array(sorted(reps), dtype=float)
    attrs = {"features": int(features), "prior_sigma": float(prior_sigma), "beta": float(beta), "alpha": float(alpha)}
    if len(ns) < 2:
        return _switch_dataset({k: [] for k in TRANSITION_FIELDS}, attrs)
    doms = [dominance(reps[int(n)][0], reps[int(n)][2]) for n in ns]
    dom = [d["dominant_classified"] for d in doms]
    changes = [i for i in range(len(ns) - 1) if dom[i] != dom[i + 1]]
    cols: dict[str, list] = {k: [] for k in TRANSITION_FIELDS}
    for j, i in enumerate(changes):
        a, b = dom[i], dom[i + 1]
        lo = changes[j - 1] + 1 if j > 0 else 0  # the rung after the previous change
        hi = changes[j + 1] if j + 1 < len(changes) else len(ns) - 1  # the rung before the next one

        def frac(n, name, boot=None):
            names, bt, pt = reps[int(n)]
            if name not in names:
                return np.zeros(bt.shape[0]) if boot else 0.0
            k = names.index(name)
            return bt[:, k] if boot else pt[k]

        d = np.array([frac(n, b) - frac(n, a) for n in ns])
        n_hat = _loglin(ns, d, i) if d[i] < 0 <= d[i + 1] else float(np.sqrt(ns[i] * ns[i + 1]))
        db = np.stack([frac(n, b, True) - frac(n, a, True) for n in ns], axis=1)  # (B, len(ns))
        roots = window_roots(ns, db, i, lo, hi)
        lo_q, hi_q = np.quantile(roots, [alpha / 2, 1 - alpha / 2])
        switch = {"from": a, "to": b, "n": n_hat, "lower": float(min(lo_q, n_hat)),
                  "upper": float(max(hi_q, n_hat)),
                  "predicted_n": np.nan, "predicted_n_laplace": np.nan,  # add_predictions, below
                  "n_before": int(ns[i]), "n_after": int(ns[i + 1]), "level": level, "beta": float(beta),
                  "dominant_all_before": doms[i]["dominant_all"],
                  "dominant_all_after": doms[i + 1]["dominant_all"],
                  "unclassified_before": doms[i]["unclassified_fraction"],
                  "unclassified_after": doms[i + 1]["unclassified_fraction"],
                  "dominance": ("all" if doms[i]["classified_leads"] and doms[i + 1]["classified_leads"]
                                else "classified_only")}
        for k, v in switch.items():
            cols[k].append(v)
    return add_predictions(_switch_dataset(cols, attrs))


def add_predictions(switches: xr.Dataset) -> xr.Dataset:
    """The transitions hand-off with ``predicted_n`` and ``predicted_n_laplace`` computed from the
    theory, for each switch ``from -> to`` at its ``n`` and ``level``.

    :func:`predicted_crossing` (asymptotic) and :func:`predicted_crossing_laplace` (with the O(1)
    terms, ``near`` the switch) at the hand-off's attrs ``features``, ``prior_sigma`` and ``beta``
    (per switch where a ``beta`` variable is present). Why separate: a stored run's switches are
    the sampler's data, its predictions the theory's; a study recomputes them from its stored
    runs (:func:`comparisons.jobs.bayes_pt.run_pt_study`), so that a correction of the theory
    reaches every table without resampling.
    """
    size = switches.sizes.get("transition", 0)
    if size == 0:
        return switches
    features = int(switches.attrs["features"])
    prior_sigma = float(switches.attrs.get("prior_sigma", 1.0))
    betas = (np.asarray(switches["beta"].values, dtype=float) if "beta" in switches
             else np.full(size, float(switches.attrs.get("beta", 1.0))))
    asym, o1 = np.full(size, np.nan), np.full(size, np.nan)
    for k, (a, b, n, level, beta) in enumerate(zip(switches["from"].values, switches["to"].values,
                                                    switches["n"].values, switches["level"].values, betas)):
        a, b, beta = str(a), str(b), float(beta)
        x = predicted_crossing(a, b, float(n), features, str(level), prior_sigma, beta=beta)
        y = predicted_crossing_laplace(a, b, features, prior_sigma, beta=beta, near=float(n))
        asym[k], o1[k] = (np.nan if x is None else x), (np.nan if y is None else y)
    return switches.assign(predicted_n=("transition", asym), predicted_n_laplace=("transition", o1))


def _switch_dataset(cols: Mapping[str, list], attrs: Mapping) -> xr.Dataset:
    """The columns of :func:`transitions` as its hand-off: each field of
    :data:`comparisons.contracts.TRANSITION_FIELDS` a variable over ``transition`` (no prediction: NaN)."""
    kinds = {str: str, int: np.int64, float: float}
    data = {k: (("transition",), np.array([np.nan if v is None else v for v in cols[k]], dtype=kinds[kind]))
            for k, kind in TRANSITION_FIELDS.items()}
    size = len(cols["from"])
    return validate_transitions(xr.Dataset(data, coords={"transition": np.arange(size)}, attrs=dict(attrs)))


def diagnostics_table(posteriors: Mapping[int, object]) -> xr.Dataset:
    """Per ``n``: one row for all chains (``phase == "all"``) and one per majority phase.

    Returns the diagnostics hand-off (:data:`comparisons.contracts.DIAGNOSTICS`): over ``row``,
    ``n, phase, chains, draws, divergences, mean_tree_depth, max_tree_depth, switches,
    rhat_loss, ess_bulk_loss, ess_tail_loss``, attrs ``sampler = "nuts"``. R-hat and ESS are of
    the empirical loss (an invariant of the symmetries) over the chains of that phase (NaN with
    fewer than 2 chains); raw-coordinate R-hat is meaningless on this posterior.
    """
    import arviz as az

    cols: dict[str, list] = {k: [] for k in ("n", "phase", "chains", "draws", "divergences", "mean_tree_depth",
                                             "max_tree_depth", "switches", "rhat_loss", "ess_bulk_loss",
                                             "ess_tail_loss")}
    for n in sorted(posteriors):
        idata = posteriors[n]
        summ = chain_summary(idata)
        stats = idata.sample_stats
        div = stats["diverging"].transpose("chain", "draw").values.astype(bool)
        depth = (stats["tree_depth"].transpose("chain", "draw").values
                 if "tree_depth" in stats else np.full(div.shape, np.nan))
        loss = idata.posterior["empirical_loss"].transpose("chain", "draw").values
        groups = [("all", np.arange(len(summ)))]
        for p in sorted({s["phase"] for s in summ}):
            groups.append((p, np.array([s["chain"] for s in summ if s["phase"] == p])))
        for name, ch in groups:
            r = {"n": int(n), "phase": name, "chains": int(len(ch)), "draws": int(loss.shape[1]),
                 "divergences": int(div[ch].sum()), "mean_tree_depth": float(np.nanmean(depth[ch])),
                 "max_tree_depth": float(np.nanmax(depth[ch])),
                 "switches": int(sum(summ[c]["switches"] for c in ch)),
                 "rhat_loss": np.nan, "ess_bulk_loss": np.nan, "ess_tail_loss": np.nan}
            if len(ch) >= 2 and loss.shape[1] >= 4:
                arr = loss[ch]
                with np.errstate(invalid="ignore", divide="ignore"):
                    r["rhat_loss"] = float(az.rhat(arr))
                    r["ess_bulk_loss"] = float(az.ess(arr, method="bulk"))
                    r["ess_tail_loss"] = float(az.ess(arr, method="tail"))
            for k, v in r.items():
                cols[k].append(v)
    kinds = {"phase": str, "n": np.int64, "chains": np.int64, "draws": np.int64, "divergences": np.int64,
             "switches": np.int64}
    return validate_diagnostics(xr.Dataset({k: (("row",), np.array(v, dtype=kinds.get(k, float)))
                                            for k, v in cols.items()},
                                           coords={"row": np.arange(len(cols["n"]))}, attrs={"sampler": "nuts"}))


def refine_switches(sample, ns: Sequence[int], analyse, *, tol: float = 0.02, max_rounds: int = 3,
                    max_insert: int | None = None, first_ladder=None):
    """Sample a ladder, then only the rungs inserted around every switch, until each is within ``tol``.

    Round 0 samples the ladder ``ns``. While a switch is bracketed more widely than ``tol`` of its
    ``n``, the next round inserts rungs into its bracket (:func:`rungs_to_insert`: by default as
    many as steps of ``1 + tol`` need, so one round resolves a switch that stays in its bracket)
    and samples a sub-ladder (:func:`refinement_ladder`): the inserted rungs, their bracket and
    the rungs of round 0's ladder below, where the walkers mix. Every rung keeps the draws of the
    round that introduced it: the base rungs those of round 0, an inserted rung those of its
    round; the switches are analysed on the union of all the rungs sampled so far.

    Parameters
    ----------
    sample : callable
        ``(ladder, keep, round) -> {n: result}``: one sampler run on ``ladder`` (tuple of int)
        returning at least the rungs ``keep`` (round 0: ``keep == ladder == ns``).
    ns : sequence of int
        Starting ladder.
    analyse : callable
        ``{n: result} -> switches``: a transitions hand-off (:func:`transitions` at the level
        refined), on every rung sampled so far.
    tol, max_insert
        See :func:`rungs_to_insert`.
    max_rounds : int
        Most refinement rounds after the first run (``0``: no refinement).
    first_ladder : callable, optional
        ``() -> rungs``, called after round 0: the ladder round 0 ran on, when its sampler added
        rungs to ``ns`` (a PT run's pilots); default ``ns``.

    Returns
    -------
    results, switches, history
        ``{n: result}`` over every sampled rung, its switches (with ``resolved`` over
        ``transition``, when ``tol > 0``: :func:`mark_resolved`) and per round ``{"round", "ns"
        (the ladder sampled), "kept" (its rungs that entered the results), "switches": [[from, to,
        n, n_before, n_after, lower, upper], ...], "inserted" (the rungs the next round samples)}``,
        plain numbers and strings. Why sample rather than interpolate: the
        occupancy difference is curved in ``log n`` between coarse rungs, so a chord's root is
        biased by up to the rung spacing, and an interval from the coarse rungs does not carry that
        error; at the inserted rungs the copies measure it.
    """
    ns = tuple(sorted(int(v) for v in ns))
    results: dict = {}
    history = []
    ladder, keep = ns, ns
    for rnd in range(max_rounds + 1):
        part = sample(ladder, keep, rnd)
        results.update({n: part[n] for n in keep if n not in results})
        switches = analyse(dict(sorted(results.items())))
        new = (rungs_to_insert(sorted(results), switches, tol=tol, max_insert=max_insert)
               if rnd < max_rounds else [])
        columns = [switches[k].values.tolist() for k in ("from", "to", "n", "n_before", "n_after", "lower", "upper")]
        history.append({"round": rnd, "ns": list(ladder), "kept": list(keep), "inserted": new,
                        "switches": [[str(a), str(b), float(n), int(lo), int(hi), float(low), float(up)]
                                     for a, b, n, lo, hi, low, up in zip(*columns)]})
        if not new:
            break
        if rnd == 0 and first_ladder is not None:
            mixing = sorted(set(ns) | {int(n) for n in first_ladder()})
        elif rnd == 0:
            mixing = list(ns)
        ladder, keep = tuple(refinement_ladder(mixing, sorted(results), new)), tuple(new)
    if tol > 0:
        switches = mark_resolved(switches, tol)
    return dict(sorted(results.items())), switches, history


def mark_resolved(switches: xr.Dataset, tol: float) -> xr.Dataset:
    """The transitions hand-off with ``resolved`` over ``transition``: a phase switch that needs no
    more rungs (:func:`comparisons.theory.ladder.bracket_resolved`: bracketed within ``tol`` of its
    ``n``, or no wider than its interval); False for families, which are not refined."""
    resolved = bracket_resolved(switches, tol) & (np.asarray(switches["level"].values) == "phase")
    return switches.assign(resolved=("transition", resolved))
