"""Measured learning coefficients of TMS phases on the population loss, both methods, with reuse.

:func:`measure_phase` runs the neighbourhood search, the tempered NUTS curve with its top-up
rounds (:mod:`~bayes_tms.llc.tempered`) and volume scaling (:mod:`~bayes_tms.llc.volume`) on one
:class:`~bayes_tms.llc.target.LossTarget`; :func:`measure_phases` does so for phases of the
enumeration and reuses every stored part whose settings and seed are unchanged.
"""

from __future__ import annotations

__all__ = ["MEASURE_DEFAULTS", "PARTS", "measure_phase", "measure_phases", "stale_parts", "upgrade_table", "jsonable"]

import logging
import time
from typing import Iterator, Sequence

import numpy as np

from comparisons.errors import InputError

from .search import neighbourhood_search
from .target import LossTarget, tms_target
from .tempered import (DEFAULT_M_GRID, FITS, SEED_RULE, TOP_UP_MAX, TOP_UP_ROUNDS, TOP_UP_RULE, choose_fit,
                       extrapolate, grid_stream, lambda_curve, pool_passes, top_up_draws, top_up_stream)
from .volume import volume_fit, volume_scaling

#: progress of the measurements ("phase 4 (1 of 6)", "neighbourhood search", "method volume
#: scaling, repeat 1 of 3"): silent unless the caller attaches a handler to ``bayes_tms.llc``
_log = logging.getLogger(__name__)


def measure_phase(target: LossTarget, *, ms: Sequence[float] = DEFAULT_M_GRID, seed: int = 0,
                  nuts: dict | None = None, volume: dict | None = None, volume_repeats: int = 3,
                  search: dict | None = None, rse_target: float | None = None,
                  reuse: dict | None = None) -> dict:
    """Both measurements of one target plus the neighbourhood check; a JSON-ready record.

    ``rse_target``: where the NUTS fit's relative SE exceeds it, another pass at every grid point
    (streams of :data:`TOP_UP_RULE`, draws from :func:`top_up_draws`) is pooled with the passes
    before it (:func:`pool_passes`, by draw counts) and the fit redone on the pooled ``curve``; up to
    :data:`TOP_UP_ROUNDS` rounds, each sized from the pooled fit. Recorded as ``top_up``:
    ``rounds`` (``draws`` and ``curve`` of each), ``draws`` (their sum; 0: not needed),
    ``first_curve`` and ``first_fit``. Low coefficients need it: the SE of ``m (L - L*)`` falls only
    as ``sqrt(lambda)``, so at 3-- (lambda near 1) the first pass leaves about 3.5%, against about
    1% on the 4-family.

    ``nuts``/``volume``/``search``: keyword arguments of :func:`nuts_lambda`,
    :func:`volume_scaling` and :func:`neighbourhood_search`. Seeds: the named streams of
    :data:`SEED_RULE` (NUTS grid point ``i``, volume repeat ``j``, the search).
    ``reuse``: an earlier record of the same target and seed; each part (search, NUTS curve,
    volume) whose settings are unchanged is taken from it instead of recomputed (listed in
    ``reused``), so that changing one part's settings recomputes only that part. For the volume
    part only the settings that shape the runs count (:data:`VOLUME_RUN_KEYS`): the record keeps the
    curve of every repeat (``volume_curves``), and the slopes (``volume_runs``) are fitted from them
    again under today's ``eps_fit`` and ``fit``.
    """
    t0 = time.perf_counter()
    ms = tuple(float(m) for m in ms)
    nuts = dict(nuts or {})
    volume = dict(volume or {})
    search = dict(search or {})
    reuse = upgrade_table(reuse) if reuse is not None else None
    r = _same_seed(reuse, seed)
    reused = []
    keep = _reusable_parts(r, target, ms=ms, nuts=nuts, volume=volume, volume_repeats=volume_repeats,
                           search=search)
    if "search" in keep:
        search_res = r["neighbourhood"]
        reused.append("search")
    else:
        _log.info("neighbourhood search")
        search_res = neighbourhood_search(target, rng=np.random.default_rng(grid_stream(seed, target, "search")),
                                          **search)
    if "nuts" in keep:
        curve = r["top_up"]["first_curve"] if r.get("top_up", {}).get("rounds") else r["curve"]
        reused.append("nuts")
    else:
        curve = lambda_curve(target, ms, seed=seed, **nuts)
    def fit_all(curve):
        lam, se = [c["llc"] for c in curve], [c["se"] for c in curve]
        return {form: extrapolate(ms, lam, se, form) for form in FITS}

    fits = fit_all(curve)
    top_up = {"draws": 0, "rse_target": rse_target, "rounds": []}
    base = int(nuts.get("draws", 500))
    first_fit, first_curve, pooled = choose_fit(fits), curve, base
    old_rounds = r.get("top_up", {}).get("rounds", []) if "nuts" in reused else []
    for k in range(1, TOP_UP_ROUNDS + 1):
        extra = 0 if rse_target is None else top_up_draws(choose_fit(fits), pooled, float(rse_target),
                                                           cap=TOP_UP_MAX * base)
        if not extra:
            break
        old = old_rounds[k - 1] if len(old_rounds) >= k else {}
        if old.get("draws") == extra and old.get("curve"):
            more = old["curve"]
            reused.append(f"top_up_{k}")
        else:
            old_rounds = []  # a round redone changes every later round's size
            more = lambda_curve(target, ms, seed=seed, stream=top_up_stream(k), **{**nuts, "draws": extra})
        top_up["rounds"].append({"draws": extra, "curve": more})
        curve = pool_passes(curve, more, pooled, extra)
        pooled += extra
        fits = fit_all(curve)
    if top_up["rounds"]:
        top_up.update(draws=pooled - base, rule=TOP_UP_RULE, first_curve=first_curve, first_fit=first_fit)
    vol_settings = _volume_settings(volume)
    if "volume" in keep:  # the stored curves, fitted again under today's fit settings
        vol_curves = r["volume_curves"]
        reused.append("volume")
    else:
        vol_curves = []
        for j in range(volume_repeats):
            _log.info("method volume scaling, repeat %d of %d", j + 1, volume_repeats)
            x = volume_scaling(target, rng=np.random.default_rng(grid_stream(seed, target, "volume", j)), **volume)
            vol_curves.append({"eps": x["eps"], "log_v": x["log_v"]})
    v = np.array([volume_fit(x["eps"], x["log_v"], tuple(vol_settings["eps_fit"]), vol_settings["fit"])
                  for x in vol_curves])
    vol_llc = float(np.mean(v))
    vol_se = float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else float("nan")
    best = choose_fit(fits)
    return {"llc_measured": best["llc"], "llc_se": best["se"], "method": "nuts-population-extrapolated",
            "fit": best, "fits": fits, "curve": curve, "m_grid": list(ms), "top_up": top_up,
            "volume_llc": vol_llc, "volume_se": vol_se, "volume_runs": v.tolist(),
            "volume_settings": jsonable(vol_settings),
            "volume_curves": vol_curves,
            "neighbourhood": {k: search_res[k] for k in ("min_excess", "starts", "valid_starts", "radii", "iters")},
            "settings": {"nuts": jsonable(nuts), "rse_target": rse_target, **target.info},
            "exact": target.exact, "seed": seed, "seed_rule": SEED_RULE, "reused": reused, "wall_s": time.perf_counter() - t0}


#: the parts of one measurement, each reused from a stored record whose settings for it are unchanged
PARTS = ("search", "nuts", "volume")


#: the volume settings that shape the runs (the rest, ``eps_fit`` and ``fit``, only their fit)
VOLUME_RUN_KEYS = ("particles", "p0", "mh_steps", "eps_min")


def _volume_settings(volume: dict) -> dict:
    """The settings of the volume part, defaults filled in (stored, JSON-ready, as ``volume_settings``)."""
    return {"particles": volume.get("particles", 1000), "p0": volume.get("p0", 0.5),
            "mh_steps": volume.get("mh_steps", 15), "eps_fit": volume.get("eps_fit", (1e-7, 1e-4)),
            "eps_min": volume.get("eps_min", 1e-7), "fit": volume.get("fit", "sqrt")}


def _same_seed(record: dict | None, seed: int) -> dict:
    """``record`` if it was measured with ``seed`` under today's :data:`SEED_RULE`, else ``{}``
    (nothing of it is reused)."""
    ok = record is not None and record.get("seed") == seed and record.get("seed_rule") == SEED_RULE
    return record if ok else {}


def _reusable_parts(r: dict, target: LossTarget, *, ms: Sequence[float], nuts: dict, volume: dict,
                    volume_repeats: int, search: dict) -> set[str]:
    """The parts of :data:`PARTS` that the stored record ``r`` (same target and seed) holds under
    these settings: the one rule of reuse, for :func:`measure_phase` and :func:`stale_parts`."""
    keep = set()
    search_key = jsonable({"starts": search.get("starts", 200), "radii": search.get("radii", (0.01, 0.05, 0.2)),
                           "iters": search.get("iters", 300)})
    old_search = r.get("neighbourhood", {})
    if "valid_starts" in old_search and {k: old_search.get(k) for k in search_key} == search_key:
        keep.add("search")
    same_coords = r.get("settings", {}).get("nuts_coordinates") == target.info.get("nuts_coordinates")
    if r.get("curve") and r.get("m_grid") == [float(m) for m in ms] \
            and r.get("settings", {}).get("nuts") == jsonable(nuts) and same_coords:
        keep.add("nuts")
    old_vol, new_vol = r.get("volume_settings", {}), jsonable(_volume_settings(volume))
    if all(old_vol.get(k) == new_vol[k] for k in VOLUME_RUN_KEYS) \
            and len(r.get("volume_curves", ())) == volume_repeats:  # the runs stored, to be fitted again
        keep.add("volume")
    return keep


def stale_parts(c: int, label: str, record: dict | None, *, seed: int = 0, **settings) -> list[str]:
    """The parts (of :data:`PARTS`) that :func:`measure_phases` would compute for phase ``label``
    of ``c`` features, given its stored ``record`` (None: not stored, so all of them).

    For cost estimates: a record of the same phase and seed whose volume run settings changed
    still costs its volume runs; a change of ``eps_fit`` or ``fit`` alone costs nothing (a refit).
    ``settings`` override :data:`MEASURE_DEFAULTS` as in :func:`measure_phases`. Not counted: the
    NUTS top-up rounds that a changed ``rse_target`` adds to a reused curve.
    """
    from comparisons.theory import enumerate_phases

    _check_settings(settings)
    phases = {q.label: q for q in enumerate_phases(c)}
    if label not in phases:
        raise InputError(f"label: expected a phase of c = {c} ({', '.join(phases)}), got {label!r}")
    if record is None:
        return list(PARTS)
    settings = {**MEASURE_DEFAULTS, **settings}
    p = phases[label]
    target = tms_target(p.W, p.b, exact=p.llc)
    record = upgrade_table(record)
    record = _same_seed(record, seed)
    if not record or not _same_target(record, target):
        return list(PARTS)
    keep = _reusable_parts(record, target, ms=tuple(float(m) for m in settings["ms"]),
                           nuts=dict(settings["nuts"]), volume=dict(settings["volume"]),
                           volume_repeats=settings["volume_repeats"], search=dict(settings["search"]))
    return [part for part in PARTS if part not in keep]


#: settings of the shipped tables (``comparisons/theory/data/llc_measured_c*.json``)
MEASURE_DEFAULTS: dict = {
    "ms": (1e4, 1e5, 1e6, 1e7, 1e8),
    "nuts": {"chains": 2, "draws": 400, "warmup": 300},
    # Metropolis steps per level: with too few the particles do not mix within a level (15 gave
    # 8.33 on the 6-gon, exact 8.5). 240, as the local free energy needed (its levels drifted with
    # 60 at c = 8, comparisons.jobs.local_free_energy). Mixed that well, some runs find secondary
    # minima a little above L* in the basin: log V falls steeply where eps passes their excess
    # (c = 5 `4`: a slope of 15.5 between eps = 1e-5 and 1e-4), and a fit over (1e-7, 1e-4) with the
    # sqrt term bent to it (4.47 against 6.47 in the range below). Fitted below 1e-5, linearly (the
    # sqrt term is negligible there and only adds noise): docs/llc_methods.md
    "volume": {"particles": 1000, "p0": 0.5, "mh_steps": 240, "eps_min": 1e-7, "eps_fit": (1e-7, 1e-5),
               "fit": "linear"},
    "volume_repeats": 3,
    "search": {"starts": 200, "iters": 300, "radii": (0.01, 0.05, 0.2, 0.5)},
    # the target for the wall phases; reached by a top-up pass where the first falls short
    "rse_target": 0.03,
}


def measure_phases(c: int, labels: Sequence[str], *, seed: int = 0, reuse: dict | None = None,
                   **settings) -> Iterator[dict]:
    """:func:`measure_phase` for the phases ``labels`` of ``enumerate_phases(c)``, one record each.

    Parameters
    ----------
    c : int
        Features.
    labels : sequence of str
        Phase labels (measured in this order).
    seed : int
        Root seed (the same for every phase: each phase's runs use ``[seed, ...]``).
    reuse : dict, optional
        ``label -> record`` of an earlier table; a record measured on the same target and seed is
        passed to :func:`measure_phase` as its ``reuse`` (resume: parts with unchanged settings are
        kept).
    **settings
        Override :data:`MEASURE_DEFAULTS` (``ms``, ``nuts``, ``volume``, ``volume_repeats``, ``search``,
        ``rse_target``).

    Yields
    ------
    dict
        Per phase, in the order of ``labels``: ``phase``, ``c``, ``llc_exact``, ``llc_bound`` and the
        record of :func:`measure_phase` (JSON-ready). A generator, so that the caller can store each
        record as it comes.
    """
    from comparisons.theory import enumerate_phases

    _check_settings(settings)
    settings = {**MEASURE_DEFAULTS, **settings}
    phases = {p.label: p for p in enumerate_phases(c)}
    missing = [lab for lab in labels if lab not in phases]
    if missing:
        raise InputError(f"labels: expected phases of c = {c} ({', '.join(phases)}), got {', '.join(missing)}")
    reuse = reuse or {}
    for k, lab in enumerate(labels):
        _log.info("phase %s (%d of %d)", lab, k + 1, len(labels))
        p = phases[lab]
        target = tms_target(p.W, p.b, exact=p.llc)
        old = reuse.get(lab)
        old = old if old is not None and _same_target(old, target) else None
        rec = measure_phase(target, seed=seed, reuse=old, **settings)
        yield jsonable({"phase": lab, "c": c, "llc_exact": p.llc, "llc_bound": p.llc_bound, **rec})


def _check_settings(settings: dict) -> None:
    """A one-line error for a setting that :data:`MEASURE_DEFAULTS` does not have."""
    unknown = set(settings) - set(MEASURE_DEFAULTS)
    if unknown:
        raise InputError(f"settings: expected keys among {', '.join(MEASURE_DEFAULTS)}, "
                         f"got {', '.join(sorted(unknown))}")


def _same_target(rec: dict, target: LossTarget) -> bool:
    """Whether a stored record was measured on ``target`` (its ``info``; None entries ignored).

    ``nuts_coordinates`` is left to :func:`measure_phase`: it concerns the NUTS curve alone, and
    the search and the volume runs of another parametrization are still reused."""
    stored = rec.get("settings", {})
    return all(stored.get(k) == v for k, v in jsonable(target.info).items()
               if v is not None and k != "nuts_coordinates")


#: keys of the NUTS settings renamed since tables were first stored: old name -> name of today
#: (``tune``: the warm-up steps, ``warmup`` across the package since issue 19)
RENAMED_NUTS_KEYS = {"tune": "warmup"}


def upgrade_table(table: dict) -> dict:
    """A stored table, or one phase's record, with the key names of today; values untouched.

    Renames :data:`RENAMED_NUTS_KEYS` in ``settings["nuts"]`` of the table and of each record in
    ``phases`` (the keys that decide whether a stored NUTS curve is reused; each key keeps its
    place), so that a table written before a rename is still reused part by part. Returns a new
    dict (the argument is not changed); anything else, and a table already up to date, comes back
    as it is. Applied by the loader
    (:func:`comparisons.jobs.llc.read_table`) and to every ``reuse`` record of
    :func:`measure_phase`; ``benchmarks/upgrade_llc_tables.py`` rewrites stored files with it.
    """
    def upgraded(obj):
        nuts = obj.get("settings", {}).get("nuts") if isinstance(obj.get("settings"), dict) else None
        if not isinstance(nuts, dict) or not set(nuts) & set(RENAMED_NUTS_KEYS):
            return obj
        nuts = {RENAMED_NUTS_KEYS.get(k, k): v for k, v in nuts.items()}
        return {**obj, "settings": {**obj["settings"], "nuts": nuts}}

    if not isinstance(table, dict):
        return table
    out = upgraded(table)
    if isinstance(out.get("phases"), list):
        out = {**out, "phases": [upgraded(rec) if isinstance(rec, dict) else rec for rec in out["phases"]]}
    return out


def jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
