"""Local free energies with their O(1) terms for every phase, and the dominant sequence they predict.

``F_n(alpha) = -log int_{basin(alpha)} phi(w) exp(-n beta L(w)) dw`` (prior ``phi = N(0, 1)``,
``L`` the population loss). Two ways to its O(1) term:

- ``"laplace"`` (:mod:`comparisons.theory.laplace`): Gaussian on the curved directions, exact flat
  volume; only where ``L`` is C^2 at the phase;
- ``"measured-local-free-energy"``: from the prior volume of the basin's sublevel sets,
  ``V(eps) = Prior{w in basin: L(w) - L* < eps}``, measured by subset simulation
  (``tms-phases theory --measure-free-energy``, table ``data/free_energy_c{c}.json``):

  ``exp(-F_n) = M exp(-m L*) int exp(-m eps) dV(eps) = M exp(-m L*) m int_0^inf V(eps) exp(-m eps) d eps``

  with ``m = n beta`` and ``M`` the number of ways to give the columns the phase's roles (the
  measured basin is one assignment, gauge-fixed: its mass is that of the rotation orbit). ``V`` is
  the subset-simulation levels (log-linear between them), above the first level the empirical
  distribution of ``L - L*`` over the basin's prior, below the last level ``V ~ eps^lambda``. Valid at
  every ``n`` and on walls; its spread over independent repeats is the stated uncertainty.

The second method is validated against the first on C^2 phases (``tests/test_local_free_energy.py``).
:func:`dominant_sequence` follows the phase of least ``F_n`` as ``n`` grows and reports each
crossing with the O(1) terms, the asymptotic one for the same pair, and a band; :func:`judge_predictions`
puts measured switch points beside them.
"""

from __future__ import annotations

__all__ = [
    "O1_MARGIN",
    "candidate_phases",
    "dominant_sequence",
    "free_energy_table",
    "free_energy_table_path",
    "judge_predictions",
    "measured_free_energy",
    "phases_to_measure",
    "read_free_energy_table",
    "volume_free_energy",
]

import functools
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError, check_positive_float
from .free_energy import (
    _real,
    check_beta,
    crossings,
    dominant_intervals,
    effective_llc,
    effective_sample_size,
    free_energy,
)
from .kgons import DATA_DIR, Phase, enumerate_phases, measured_llc_overrides
from .laplace import LAPLACE_WINDOW, laplace_free_energy

#: a phase enters the O(1) comparison where its asymptotic ``F_n`` is within this many nats of the
#: least one at some ``n`` of the range (the O(1) terms move phases by a few nats, never more than
#: this in the tables: see docs/beyond-c6.md)
O1_MARGIN = 2.0

#: the ``terms`` of :func:`dominant_sequence`
TERMS = ("o1", "measured", "asymptotic")

#: the measured method's band: crossings of ``F_a - F_b = +- BAND_Z * se``
BAND_Z = 2.0


def free_energy_table_path(c: int) -> Path:
    """``comparisons/theory/data/free_energy_c{c}.json`` (may not exist)."""
    return DATA_DIR / f"free_energy_c{int(c)}.json"


def read_free_energy_table(path) -> dict:
    """The table at ``path`` (``{}`` if the file does not exist)."""
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else {}


@functools.cache
def free_energy_table(c: int) -> dict:
    """``label -> record`` of the shipped measured-free-energy table of ``c`` ({} if none)."""
    return dict(read_free_energy_table(free_energy_table_path(c)).get("phases", {}))


def _log_volume(run: Mapping, upper: Mapping, log_mass: float, llc: float, log_eps: np.ndarray,
                region: str = "basin") -> np.ndarray:
    """``log V(eps)`` of one subset-simulation run on the grid ``log_eps`` (see the module docstring).

    ``region="hull"``: the part of ``V`` that the paper's hull rule labels with the phase (the
    fraction measured on each level's particles and on the upper sample).
    """
    eps = np.asarray(run["eps"], dtype=float)
    log_v = np.asarray(run["log_v"], dtype=float)
    frac = np.asarray(run["hull_fraction"], dtype=float) if region == "hull" else np.ones_like(eps)
    keep = eps > 0
    eps, log_v, frac = eps[keep], log_v[keep], frac[keep]
    order = np.argsort(eps)
    le, lv = np.log(eps[order]), log_v[order] + np.log(np.maximum(frac[order], 1e-300))
    out = np.interp(log_eps, le, lv)
    below = log_eps < le[0]
    out[below] = lv[0] + llc * (log_eps[below] - le[0])
    # above the first level: the empirical distribution of the basin's prior sample
    ue = np.asarray(upper["eps"], dtype=float)
    up = np.asarray(upper["prob"], dtype=float)
    if region == "hull":
        up = up * np.asarray(upper["hull_fraction"], dtype=float)
    above = log_eps > le[-1]
    cdf = np.interp(np.exp(log_eps[above]), ue, up, left=0.0, right=float(up[-1]))
    out[above] = np.maximum(log_mass + np.log(np.maximum(cdf, 1e-300)), lv[-1])
    return out


def volume_free_energy(record: Mapping, n: np.ndarray | float, beta: float = 1.0,
                       llc: float | None = None, region: str = "basin") -> tuple[np.ndarray, np.ndarray]:
    """``F_n`` of a phase from its measured ``V(eps)`` (one stored record): mean and SE over repeats.

    Parameters
    ----------
    record : mapping
        One phase of ``data/free_energy_c{c}.json`` (:func:`free_energy_table`).
    n : float or array_like, shape (k,)
        Sample sizes (> 0).
    beta : float
        Inverse temperature; the integral is at ``m = n beta``.
    llc : float, optional
        Slope of ``log V`` below the last level (default: the record's exact ``llc``, else 1 / 2
        per curved direction is unknown and the last two levels' slope is used).
    region : {"basin", "hull"}
        ``"basin"``: the basin of the phase's column roles (what the table measures);
        ``"hull"``: its part that the paper's hull rule (PT's classifier) labels with the phase
        (records measured with the hull fractions only).

    Returns
    -------
    (ndarray, ndarray), each shape (k,)
        Mean of ``F_n`` over the repeats and its standard error (nats).
    """
    if region not in ("basin", "hull"):
        raise InputError(f"region: expected 'basin' or 'hull', got {region!r}")
    if region == "hull" and not all("hull_fraction" in r for r in record["runs"]):
        raise InputError(f"region: expected a record with hull fractions for 'hull', got phase "
                         f"{record.get('phase')!r} measured without them (measure it again)")
    m = effective_sample_size(np.atleast_1d(np.asarray(n, dtype=float)), beta)
    if np.any(~(m > 0)) or not np.all(np.isfinite(m)):
        raise InputError(f"n: expected finite positive sample sizes, got {np.asarray(n).ravel()[:3].tolist()}")
    log_eps = np.linspace(math.log(1e-14), math.log(max(record["upper"]["eps"][-1], 1e-6) * 1.01), 6000)
    F = []
    for run in record["runs"]:
        slope = llc if llc is not None else record.get("llc")
        if slope is None:
            e, lv = np.asarray(run["eps"]), np.asarray(run["log_v"])
            slope = float((lv[-1] - lv[-4]) / (np.log(e[-1]) - np.log(e[-4])))
        lv = _log_volume(run, record["upper"], float(record["log_region_mass"]), float(slope), log_eps, region)
        # m int V e^{-m eps} d eps = m int V eps e^{-m eps} d log eps (trapezoid in log eps, in logs)
        expo = lv[None, :] + log_eps[None, :] - m[:, None] * np.exp(log_eps)[None, :]
        top = expo.max(axis=1, keepdims=True)
        w = np.exp(expo - top)
        d = np.diff(log_eps)
        integral = np.log(np.sum((w[:, 1:] + w[:, :-1]) / 2 * d, axis=1)) + top[:, 0]
        F.append(m * float(record["loss"]) - math.log(float(record["role_assignments"])) - np.log(m) - integral)
    F = np.array(F)
    se = F.std(axis=0, ddof=1) / math.sqrt(len(F)) if len(F) > 1 else np.full(m.shape, np.nan)
    return F.mean(axis=0), se


def measured_free_energy(phase: Phase, n, beta: float = 1.0, region: str = "basin"
                         ) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`volume_free_energy` of ``phase`` from the shipped table; None where it is not measured.

    ``region="auto"``: ``"hull"`` (the part of the basin that PT's classifier labels with the
    phase) where the record has the hull fractions, else ``"basin"``.
    """
    rec = free_energy_table(phase.c).get(phase.label)
    if rec is None:
        return None
    if region == "auto":
        region = "hull" if all("hull_fraction" in r for r in rec["runs"]) else "basin"
    return volume_free_energy(rec, n, beta, llc=effective_llc(phase, measured_llc_overrides([phase])), region=region)


def _o1(phase: Phase, m: np.ndarray, prior_sigma: float, laplace: bool = False
        ) -> tuple[np.ndarray, np.ndarray, str] | None:
    """``(F, se, method)`` of ``phase`` at effective sizes ``m`` with its O(1) term; None if it has none.

    The measured local free energy where the shipped table has the phase (valid at every ``n``, on
    walls too), else Laplace where ``L`` is C^2 at the phase. ``laplace=True``: Laplace wherever it
    applies, the measured values on walls only (``terms="o1"`` of :func:`dominant_sequence`).
    """
    c2 = not phase.on_wall and not phase.phi
    if prior_sigma == 1.0 and not (laplace and c2):  # the measured tables are for the prior N(0, 1)
        got = measured_free_energy(phase, m, region="auto")
        if got is not None:
            return got[0], got[1], "measured-local-free-energy"
    if not c2:
        return None
    # outside LAPLACE_WINDOW the O(1) constant is held at its value at the window's edge: below
    # it the Gaussian is not concentrated, above it the Monte Carlo flat volume is dominated by
    # rare escapes from the region (exp(-m dL) with dL < 0 overflows)
    mc = np.clip(m, *LAPLACE_WINDOW)
    F = laplace_free_energy([phase], mc, prior_sigma=prior_sigma)[0]
    asym = free_energy([phase], np.concatenate([m, mc]), prior_sigma=prior_sigma)[0]
    F = F + asym[:m.size] - asym[m.size:]
    return F, np.zeros_like(F), "laplace"


#: phases compared at every ``c`` where they exist: SGD starts near 4-gons, and PT on the population
#: loss holds large shares at small ``n`` in the 4-family (docs/beyond-c6.md)
ALWAYS_COMPARED = ("4", "4+", "4++")

#: below this effective sample size the margin test is not applied (at ``n beta`` of a few units
#: every decorated phase is within a few nats of every other)
MARGIN_FROM = 30.0


def candidate_phases(features: int, n_min: float, n_max: float, beta: float = 1.0, prior_sigma: float = 1.0,
                     margin: float = O1_MARGIN) -> list[Phase]:
    """The phases compared with their O(1) terms over ``[n_min, n_max]``.

    The union of: the asymptotic dominant sequence; the phases whose asymptotic ``F_n`` comes within
    ``margin`` nats of the least at some ``n`` with ``n beta >= MARGIN_FROM``; the 4-family
    (:data:`ALWAYS_COMPARED`). Ordered as :func:`enumerate_phases`. The other phases are left out:
    that they never lead with O(1) terms is an assumption (docs/beyond-c6.md).
    """
    phases = enumerate_phases(features)
    llc = measured_llc_overrides(phases)
    beta = check_beta(beta)
    lo = max(n_min, MARGIN_FROM / beta) if MARGIN_FROM / beta < n_max else n_min
    grid = np.geomspace(lo, n_max, 400)
    F = free_energy(phases, grid, llc=llc, prior_sigma=prior_sigma, beta=beta)
    near = np.any(F - F.min(axis=0) <= margin, axis=1)
    seq = {d["phase"] for d in dominant_intervals(phases, n_min=n_min, n_max=n_max, llc=llc,
                                                   prior_sigma=prior_sigma, beta=beta)}
    return [p for p, keep in zip(phases, near) if keep or p.label in seq or p.label in ALWAYS_COMPARED]


def phases_to_measure(features: int) -> list[str]:
    """Labels of the phases that :func:`dominant_sequence` compares at ``c`` (beta 1 and 1/2, ``n``
    from 10 to 1e6): the default of ``tms-phases theory --measure-free-energy``. C^2 phases too:
    Laplace's own error is several nats at ``n`` of a hundred (module docstring)."""
    out: list[str] = []
    for beta in (1.0, 0.5):
        for p in candidate_phases(features, 10.0, 1e6, beta):
            if p.label not in out:
                out.append(p.label)
    return out


def _check_range(n_min, n_max) -> tuple[float, float]:
    n_min, n_max = _real("n_min", n_min), _real("n_max", n_max)
    if not (0 < n_min < n_max and math.isfinite(n_max)):
        raise InputError(f"n range: expected 0 < n_min < n_max < inf, got [{n_min}, {n_max}]")
    return n_min, n_max


def _asymptotic_sequence(phases, n_min, n_max, llc, prior_sigma, beta) -> list[dict]:
    dom = dominant_intervals(phases, n_min=n_min, n_max=n_max, llc=llc, prior_sigma=prior_sigma, beta=beta)
    return [{"from": a["phase"], "to": b["phase"], "n": a["n_to"], "n_asymptotic": a["n_to"],
             "method": "asymptotic", "n_lo": a["n_to"], "n_hi": a["n_to"]} for a, b in itertools.pairwise(dom)]


def dominant_sequence(features: int, *, beta: float = 1.0, prior_sigma: float = 1.0, n_min: float = 10.0,
                      n_max: float = 1e6, terms: str = "o1") -> list[dict]:
    """The sequence of dominant phases as ``n`` grows, each crossing with its predicted ``n``.

    Parameters
    ----------
    features : int
        ``c``, 2 to 8.
    beta : float
        Inverse temperature of the posterior ``exp(-n beta L)``.
    prior_sigma : float
        Prior ``N(0, sigma^2)``; ``terms="o1"`` with a wall phase in play needs ``sigma = 1`` (the
        measured tables' prior).
    n_min, n_max : float
        Range of ``n``.
    terms : {"o1", "measured", "asymptotic"}
        ``"o1"``: the free energies with their O(1) terms, Laplace on every C^2 phase and the
        measured local free energy (``data/free_energy_c{c}.json``) on the walls; ``"measured"``:
        the measured value wherever the table has the phase (C^2 phases too), Laplace elsewhere
        (the measured basins of the C^2 polygons are larger than the regions PT's classifier gives
        them: docs/beyond-c6.md); ``"asymptotic"``: ``n beta L + lambda log(n beta) +
        |w*|^2/2``, the sequence of :func:`dominant_intervals` (measured coefficients on walls).

    Returns
    -------
    list of dict
        One per crossing, in increasing ``n``: ``from``, ``to`` (labels), ``n`` (the crossing with
        the chosen terms), ``n_asymptotic`` (the asymptotic crossing of the same two phases nearest
        ``n``; None if they do not cross asymptotically within ``[n_min, n_max]``), ``method`` (how each side's O(1) term was
        obtained, ``"from-method/to-method"``), ``n_lo``, ``n_hi`` (where ``F_from - F_to = -+ 2 se``,
        ``se`` from the measured repeats; equal to ``n`` for Laplace on both sides).

    Raises
    ------
    InputError
        Bad ``features``, ``beta``, range or ``terms``, or a phase in reach without an O(1) term
        (named with the command that measures it).

    Examples
    --------
    >>> seq = dominant_sequence(6)
    >>> [(e["from"], e["to"]) for e in seq][-2:]
    [('4', '5'), ('5', '6')]
    >>> all(e["n_lo"] <= e["n"] <= e["n_hi"] for e in seq)
    True
    """
    if terms not in TERMS:
        raise InputError(f"terms: expected one of {', '.join(map(repr, TERMS))}, got {terms!r}")
    beta = check_beta(beta)
    n_min, n_max = _check_range(n_min, n_max)
    phases = enumerate_phases(features)
    llc = measured_llc_overrides(phases)
    if terms == "asymptotic":
        return _asymptotic_sequence(phases, n_min, n_max, llc, prior_sigma, beta)
    cands = candidate_phases(features, n_min, n_max, beta, prior_sigma)
    grid = np.geomspace(n_min, n_max, 600)
    m = effective_sample_size(grid, beta)
    Fs, ses, methods = [], [], []
    for p in cands:
        got = _o1(p, m, prior_sigma, laplace=terms == "o1")
        if got is None:
            raise InputError(f"phase {p.label} (c = {features}): expected a measured local free energy for this "
                             f"wall phase, got none (run: tms-phases theory --measure-free-energy -c {features} "
                             f"--phases {p.label})")
        Fs.append(got[0])
        ses.append(got[1])
        methods.append(got[2])
    F, SE = np.array(Fs), np.array(ses)
    lead = np.argmin(F, axis=0)
    logn = np.log(grid)
    out = []
    for i in np.nonzero(lead[1:] != lead[:-1])[0]:
        a, b = int(lead[i]), int(lead[i + 1])
        pa, pb = cands[a], cands[b]
        d = F[a] - F[b]  # < 0 below the crossing, > 0 above
        n = _root(logn, d, i)
        band = [n, n]
        s = BAND_Z * np.hypot(SE[a], SE[b])
        if s.any():  # F_from - F_to = -2 se: the earliest crossing the spread allows; +2 se: the latest
            band = [_nearest_root(logn, d + s, n, n_min), _nearest_root(logn, d - s, n, n_max)]
        asym = [e["n"] for e in crossings([pa, pb], n_max=n_max, n_min=n_min, llc=llc,
                                          prior_sigma=prior_sigma, beta=beta)]
        n_asym = min(asym, key=lambda x: abs(math.log(x / n))) if asym else None
        method = methods[a] if methods[a] == methods[b] else f"{methods[a]}/{methods[b]}"
        if "laplace" in method and not LAPLACE_WINDOW[0] <= m[i] <= LAPLACE_WINDOW[1]:
            method += (f" (n beta outside {LAPLACE_WINDOW[0]:g}..{LAPLACE_WINDOW[1]:g}: Laplace's O(1) constant "
                       "held at the window's edge)")
        out.append({"from": pa.label, "to": pb.label, "n": n, "n_asymptotic": n_asym, "method": method,
                    "n_lo": min(band[0], n), "n_hi": max(band[1], n)})
    return out


def _root(logn: np.ndarray, d: np.ndarray, i: int) -> float:
    """``n`` where ``d`` (sampled at ``log n``) changes sign between grid points ``i`` and ``i + 1`` (linear)."""
    t = logn[i] + (logn[i + 1] - logn[i]) * d[i] / (d[i] - d[i + 1]) if d[i] != d[i + 1] else logn[i]
    return float(math.exp(t))


def _nearest_root(logn: np.ndarray, d: np.ndarray, n: float, edge: float) -> float:
    """The sign change of ``d`` nearest ``n`` (in ``log n``); ``edge`` where ``d`` has none."""
    idx = np.nonzero(np.sign(d[:-1]) * np.sign(d[1:]) <= 0)[0]
    if idx.size == 0:
        return float(edge)
    roots = [_root(logn, d, int(i)) for i in idx]
    return min(roots, key=lambda x: abs(math.log(x / n)))


def judge_predictions(sequence: Sequence[Mapping], measured: Mapping[tuple[str, str], object],
                      tolerance: float = 0.2) -> list[dict]:
    """Predicted against measured switch points: one row per crossing of ``sequence``.

    Parameters
    ----------
    sequence : sequence of mapping
        :func:`dominant_sequence`'s output.
    measured : mapping (from, to) -> n or (n, n_lo, n_hi)
        Measured switch points of the population posterior (PT), with their interval where known.
    tolerance : float
        A prediction "misses" where ``|log(predicted / measured)| > log(1 + tolerance)``.

    Returns
    -------
    list of dict
        ``from``, ``to``, ``predicted``, ``predicted_lo``, ``predicted_hi``, ``asymptotic``,
        ``measured``, ``measured_lo``, ``measured_hi`` (None where not measured), ``ratio``
        (predicted / measured), ``asymptotic_ratio`` and ``miss`` (bool; None where not measured);
        then one row per measured switch that the sequence does not predict (``predicted`` None).
    """
    tolerance = check_positive_float("tolerance", _real("tolerance", tolerance))
    parsed = {}
    for key, value in measured.items():
        if not (isinstance(key, tuple) and len(key) == 2 and all(isinstance(k, str) for k in key)):
            raise InputError(f"measured: expected keys (from, to) of phase labels, got {key!r}")
        vals = np.atleast_1d(np.asarray(value, dtype=float))
        if vals.size not in (1, 3) or not np.all(np.isfinite(vals) & (vals > 0)):
            raise InputError(f"measured[{key!r}]: expected n or (n, n_lo, n_hi), positive, got {value!r}")
        parsed[key] = (vals[0], vals[1], vals[2]) if vals.size == 3 else (vals[0], vals[0], vals[0])
    rows, seen = [], set()
    for e in sequence:
        key = (e["from"], e["to"])
        got = parsed.get(key)
        seen.add(key)
        row = {"from": e["from"], "to": e["to"], "predicted": e["n"], "predicted_lo": e["n_lo"],
               "predicted_hi": e["n_hi"], "asymptotic": e["n_asymptotic"], "measured": None, "measured_lo": None,
               "measured_hi": None, "ratio": None, "asymptotic_ratio": None, "miss": None}
        if got is not None:
            ratio = e["n"] / got[0]
            row.update(measured=got[0], measured_lo=got[1], measured_hi=got[2], ratio=ratio,
                       asymptotic_ratio=None if e["n_asymptotic"] is None else e["n_asymptotic"] / got[0],
                       miss=bool(abs(math.log(ratio)) > math.log1p(tolerance)))
        rows.append(row)
    for key, got in parsed.items():
        if key not in seen:
            rows.append({"from": key[0], "to": key[1], "predicted": None, "predicted_lo": None, "predicted_hi": None,
                         "asymptotic": None, "measured": got[0], "measured_lo": got[1], "measured_hi": got[2],
                         "ratio": None, "asymptotic_ratio": None, "miss": True})
    return rows
