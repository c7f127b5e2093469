"""The stored fixture of tests/test_correspondence.py, built by construction (c = 6).

Ten SGD runs: six move 5 -> 6, one moves 6 -> 5, and three stay at 5. Each plateau carries an SGLD estimate chosen so that
the medians are known: 5 -> 3.0, 6 -> 5.0. The Bayesian occupancy (one estimator) leads with 5
at n = 100, 300 and with 6 at n = 1000, 3000: the step 5 -> 6.

Known answers: the move 5 -> 6 in 6 runs (60%), 6 -> 5 in 1 run (10%); Delta L < 0 and
Delta lambda = 8.5 - 7 = +1.5 for 5 -> 6; the free energy prefers 6 above the 5/6 crossing
(about 601 at beta = 1, twice that at beta = 1/2); the Bayesian sequence makes 5 -> 6 and not
6 -> 5; the verdicts count 6 of 7 moves as "high loss / low complexity -> low loss / high
complexity" for both the coefficients and the estimates ("mostly").

Regenerate the stored files with ``python tests/correspondence_fixture.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

from comparisons.contracts import PLATEAU_COLUMNS, validate_plateaus
from occupancy_toys import occupancy_of
from comparisons.theory import enumerate_phases

DATA = Path(__file__).parent / "data"
PLATEAUS = DATA / "correspondence_c6_plateaus.nc"
OCCUPANCY = DATA / "correspondence_c6_occupancy.nc"


def build():
    """``(plateaus, occupancy)`` Datasets of the fixture."""
    loss = {p.label: p.loss for p in enumerate_phases(6)}
    rows, moves, paths = [], [], {}
    for run in range(10):
        if run < 6:
            seq = [("5", 3.0), ("6", 5.0)]
        elif run == 6:
            seq = [("6", 5.0), ("5", 3.0)]
        else:
            seq = [("5", 3.0)]
        for order, (phase, llc) in enumerate(seq):
            rows.append({"run": run, "order": order, "phase": phase, "start_step": 100 * order,
                         "end_step": 100 * order + 90, "loss": loss[phase], "llc": llc, "points": 3})
        for (a, _), (b, _) in zip(seq[:-1], seq[1:]):
            moves.append({"run": run, "from": a, "to": b})
        path = " > ".join(p for p, _ in seq)
        paths[path] = paths.get(path, 0) + 1
    def column(records, key, dim):
        return (dim,), np.array([r[key] for r in records], dtype=str if isinstance(records[0][key], str) else None)

    plateaus = validate_plateaus(xr.Dataset(
        {**{k: column(rows, k, "plateau") for k in PLATEAU_COLUMNS},
         "path": (("path",), np.array(list(paths), dtype=str)),
         "path_runs": (("path",), np.array(list(paths.values()), dtype=np.int64)),
         "path_fraction": (("path",), np.array(list(paths.values())) / 10),
         **{f"move_{k}": column(moves, k, "move") for k in ("run", "from", "to")}},
        coords={"plateau": np.arange(len(rows))}, attrs={"runs": 10}))
    occ_rows = []
    for n, lead in ((100, "5"), (300, "5"), (1000, "6"), (3000, "6")):
        other = "6" if lead == "5" else "5"
        occ_rows += [{"n": n, "phase": lead, "fraction": 0.8, "lower": 0.7, "upper": 0.9, "chains": 4},
                     {"n": n, "phase": other, "fraction": 0.2, "lower": 0.1, "upper": 0.3, "chains": 4}]
    occupancy = occupancy_of({"pt": occ_rows}, attrs={"features": 6, "beta": 1.0})
    return plateaus, occupancy


if __name__ == "__main__":
    DATA.mkdir(exist_ok=True)
    p, o = build()
    p.to_netcdf(PLATEAUS)
    o.to_netcdf(OCCUPANCY)
