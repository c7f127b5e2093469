"""The paper's Figure 2 reproduced, and the occupancy estimators side by side, from the Bayesian stages.

Nothing is sampled here: the job reads what the Bayesian stages of ``tms-phases reproduce``
stored, through the validators of :mod:`comparisons.contracts`:

- panel (a) from the NUTS stage (``bayes/``, run with the paper's protocol: ``beta = 1/2``, hull
  classifier): its posteriors ``posterior_nNNNNN.nc``, whose raw draw fractions and their
  bootstrap switch are computed here by the engine's own functions
  (:func:`bayes_tms.occupancy.occupancy_table`, :func:`bayes_tms.occupancy.transitions`, the same
  bootstrap seed as the NUTS job's ``nuts_raw`` estimator);
- panels (b) and (c) from two replica-exchange stages (``occupancy.nc``, ``transitions.nc``) at
  ``beta = 1/2`` and ``beta = 1``.

It writes ``figure2.nc`` (contract :data:`comparisons.contracts.FIGURE2`, atomically, re-read
through its validator), ``figure2.png`` and ``figure2.md`` (:func:`comparisons.figure2.figure2_markdown`).
:func:`compare_estimators` writes ``occupancy_compare.nc`` and ``occupancy_compare.csv``: every
estimator of the occupancy at one beta on its ``estimator`` coordinate.
"""

from __future__ import annotations

__all__ = ["SEED_RULE", "convention_name", "run_figure2", "nuts_panel", "pt_panel", "predicted_switch", "compare_estimators",
           "requested_rungs"]

import json
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..errors import InputError
from ..io import check_writable_dir, save_figure, write_dataset_csv, write_netcdf, write_text
from ..theory import OCCUPANCY_RULE
from ..figure2 import figure2_dataset, figure2_markdown, plot_figure2
from .paper_switch import PAPER_SWITCH, paper_switch_n

#: how one seed gives every panel's data and randomness (shown under the figure)
SEED_RULE = ("data set n = the first n rows of one stream sample_inputs(max n, c, seed), the same in every "
             "panel; NUTS chains and PT replicas draw from named children of the seed "
             "(comparisons.theory.streams). Same seed, same draws: replica exchange on any machine and BLAS "
             "thread count, NUTS on the same machine and installation")


def _config(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise InputError(f"figure2: expected {path} (written by the bayes stage), got none")
    return json.loads(path.read_text())


def convention_name(beta: float) -> str:
    """The likelihood convention of ``beta`` (:data:`comparisons.jobs.bayes_pt.CONVENTIONS`), or ``"beta=<x>"``."""
    from .bayes_pt import CONVENTIONS

    hits = [name for name, b in CONVENTIONS.items() if math.isclose(b, float(beta))]
    return hits[0] if hits else f"beta={float(beta):g}"


def _paper_switch(transitions) -> dict | None:
    """The phase-level switch :data:`PAPER_SWITCH` of a run's transitions hand-off
    (``{"n", "lower", "upper", "crossings"}``), or None.

    One crossing: its ``n`` and interval. A switch that repeats (5 -> 6, 6 -> 5, 5 -> 6, ...: the
    leading phase flips within the copies' noise where the two fractions are level, as a refined
    ladder resolves) is the stretch from its first to its last crossing
    (:func:`comparisons.contracts.switch_stretches`): ``n`` their geometric mean, the interval from
    the first's lower end to the last's upper end. The first crossing alone, with an interval
    bounded by the next crossing, would claim a precision the noise does not give.
    """
    from ..contracts import level_switches, nanmax_or_nan, nanmin_or_nan, switch_stretches

    st = switch_stretches(level_switches(transitions))
    keep = (st["from"].values == PAPER_SWITCH[0]) & (st["to"].values == PAPER_SWITCH[1])
    if not keep.any():
        return None
    hits = st.isel(transition=keep)
    n = float(np.sqrt(float(hits["n_first"].values[0]) * float(hits["n_last"].values[-1])))
    lower, upper = nanmin_or_nan(hits["lower"].values), nanmax_or_nan(hits["upper"].values)
    return {"n": n, "lower": lower, "upper": upper, "crossings": int(hits["crossings"].values.sum())}


def predicted_switch(features: int, beta: float, prior_sigma: float = 1.0) -> tuple[float | None, float | None]:
    """The free-energy predictions of the :data:`PAPER_SWITCH` at ``beta``: ``(asymptotic, with O(1) terms)``.

    Asymptotic: the first ``a -> b`` crossing of ``F_n = n beta L + lambda log n + |w*|^2 / 2``
    (:func:`comparisons.theory.crossings`, as :func:`paper_switch_n` at beta = 1); with the O(1)
    terms: :func:`comparisons.theory.laplace_crossing`. None where there is none.
    """
    from ..theory import crossings, enumerate_phases, laplace_crossing

    by = {p.label: p for p in enumerate_phases(features) if p.label in PAPER_SWITCH}
    if len(by) != 2:
        return None, None
    a, b = (by[k] for k in PAPER_SWITCH)
    hits = [e["n"] for e in crossings([a, b], n_max=1e6, prior_sigma=prior_sigma, beta=beta)
            if (e["from"], e["to"]) == PAPER_SWITCH]
    return (float(hits[0]) if hits else None), laplace_crossing(a, b, prior_sigma=prior_sigma, beta=beta)


def nuts_panel(folder: Path) -> dict:
    """Panel (a) from a NUTS stage's folder: raw draw fractions, their switch, the predictions."""
    from bayes_tms.occupancy import occupancy_table, transitions

    from ..contracts import validate_posterior
    from .bayes import posterior_path

    conf = _config(folder)
    posts = {int(n): validate_posterior(posterior_path(folder, n)) for n in conf["ns"]}
    # the NUTS job's nuts_raw estimator: the same call, the same bootstrap seed
    occ, reps = occupancy_table(posts, B=int(conf["bootstrap"]), seed=int(conf["seed"]), estimator="nuts_raw",
                                sampler="nuts")
    trans = transitions(reps, features=int(conf["features"]), prior_sigma=float(conf["prior_sigma"]),
                        beta=float(conf["beta"]))
    return _panel(conf, occ, trans, sampler="nuts", estimator="raw", classifier=str(conf["classifier"]))


def requested_rungs(occ):
    """A replica-exchange occupancy at its requested rungs (its attrs' ``requested_ns``, written
    when it holds more).

    The rungs its switch refinement inserted (:func:`comparisons.jobs.bayes_pt.refine_pt`) are
    left out, and the phases seen only there with them, so that panels and estimators share one
    ``n`` grid; the switch itself keeps its refined value (``transitions.nc``).
    """
    if "requested_ns" not in occ.attrs:
        return occ
    occ = on_grid(occ, [int(n) for n in np.atleast_1d(occ.attrs["requested_ns"])])
    occ.attrs = {k: v for k, v in occ.attrs.items() if k != "requested_ns"}
    return occ


def on_grid(occ: "xr.Dataset", ns: Sequence[int]) -> "xr.Dataset":  # noqa: F821
    """An occupancy hand-off at the rungs ``ns`` only, without the phases seen at none of them."""
    occ = occ.sel(n=list(ns))
    seen = occ["fraction"].notnull().any(dim=[d for d in occ["fraction"].dims if d != "phase"])
    return occ.isel(phase=np.flatnonzero(seen.values))


def pt_panel(folder: Path) -> dict:
    """Panel (b) or (c) from a replica-exchange stage's folder (``occupancy.nc``, ``transitions.nc``)
    at its requested rungs (:func:`requested_rungs`)."""
    from ..contracts import read_occupancy, read_transitions

    conf = _config(folder)
    occ = requested_rungs(read_occupancy(Path(folder) / "occupancy.nc").sel(estimator=["pt"]))
    trans = read_transitions(Path(folder) / "transitions.nc")
    return _panel(conf, occ, trans, sampler="pt", estimator="pt",
                  classifier=str(occ.attrs.get("classifier", conf.get("classifier"))))


def _panel(conf: Mapping, occ, trans, *, sampler: str, estimator: str, classifier: str) -> dict:
    beta = float(conf["beta"])
    asym, o1 = predicted_switch(int(conf["features"]), beta, float(conf["prior_sigma"]))
    sw = _paper_switch(trans)
    return {"occupancy": occ, "switch": sw,
            "predicted_asymptotic": asym, "predicted_o1": o1, "beta": beta, "sampler": sampler,
            "convention": convention_name(beta), "classifier": classifier, "estimator": estimator,
            "features": int(conf["features"]), "seed": int(conf["seed"]), "prior_sigma": float(conf["prior_sigma"]),
            "ns": [int(n) for n in conf["ns"]]}


def run_figure2(nuts_dir: Path, pt_same_dir: Path, pt_theory_dir: Path, out_dir: Path, *, preset: str,
                command: str) -> "xr.Dataset":  # noqa: F821
    """Build, write and re-read ``figure2.nc``; draw ``figure2.png``; write ``figure2.md``.

    Parameters
    ----------
    nuts_dir : path
        Panel (a): a NUTS stage run with the paper's protocol.
    pt_same_dir, pt_theory_dir : path
        Panels (b) and (c): replica exchange at (a)'s beta and at beta = 1.
    out_dir : path
        The job's folder.
    preset, command : str
        Recorded in the attrs: the reproduce preset and the exact command that regenerates the file.

    Returns
    -------
    xarray.Dataset
        ``figure2.nc`` as read back through :func:`comparisons.contracts.read_figure2`.

    Raises
    ------
    InputError
        When the panels do not share one data set (features, seed, prior) and panel (a)'s n grid,
        or (a) and (b) differ in beta. A replica-exchange panel whose ladder holds (a)'s rungs and
        more (the paper preset adds 16, 32 and 64) is shown at (a)'s rungs; its switch keeps its
        own value.
    """
    from ..contracts import read_figure2

    panels = {"a": nuts_panel(Path(nuts_dir)), "b": pt_panel(Path(pt_same_dir)), "c": pt_panel(Path(pt_theory_dir))}
    grid = panels["a"]["ns"]  # the paper's protocol's n; a PT ladder may add rungs (the paper preset's 16, 32, 64)
    for p in ("b", "c"):
        if set(grid) <= set(panels[p]["ns"]) and panels[p]["ns"] != grid:
            panels[p] = {**panels[p], "occupancy": on_grid(panels[p]["occupancy"], grid), "ns": grid}
    for key in ("features", "seed", "prior_sigma", "ns"):
        got = {p: panels[p][key] for p in panels}
        if len({json.dumps(v) for v in got.values()}) != 1:
            raise InputError(f"figure2: expected one data set and n grid in all panels, got {key} {got}")
    if not math.isclose(panels["a"]["beta"], panels["b"]["beta"]):
        raise InputError(f"figure2: expected panels (a) and (b) at the same beta, got {panels['a']['beta']} "
                         f"and {panels['b']['beta']}")
    a = panels["a"]
    out = check_writable_dir(out_dir)
    ds = figure2_dataset(panels, features=a["features"], seed=a["seed"], seed_rule=SEED_RULE, preset=preset,
                         command=command, switch=PAPER_SWITCH,
                         attrs={"prior_sigma": a["prior_sigma"],
                                "paper_switch_n": paper_switch_n(a["features"], a["prior_sigma"]) or math.nan})
    write_netcdf(ds, out / "figure2.nc")
    ds = read_figure2(out / "figure2.nc")
    save_figure(plot_figure2(ds), out / "figure2.png")
    write_text(out / "figure2.md", figure2_markdown(ds, "figure2.png"))
    return ds


def compare_estimators(out_dir: Path, *, pt_dir: Path | None = None, nuts_dir: Path | None = None,
                       smc_dir: Path | None = None) -> Path | None:
    """``occupancy_compare.nc`` and ``occupancy_compare.csv``: the estimators of one occupancy side by side.

    ``pt`` (a replica-exchange folder, at its requested rungs), ``nuts_bridge`` (a NUTS folder's ladder bridge) and
    ``smc`` (a ``tms-phases free-energy`` folder), where present; all must be at one beta. The
    attrs record that ``beta`` and the classifier (one rule, or each estimator's). Returns the
    netCDF path, or None with fewer than two estimators.
    """
    from ..analysis import OCCUPANCY_COMPARE_COLUMNS
    from ..contracts import combine_occupancy, read_occupancy

    estimates, betas, rules = [], {}, {}
    for name, folder, file in (("pt", pt_dir, "occupancy.nc"), ("nuts_bridge", nuts_dir, "occupancy.nc"),
                               ("smc", smc_dir, "smc_occupancy.nc")):
        path = Path(folder) / file if folder is not None else None
        if path is None or not path.is_file():
            continue
        occ = read_occupancy(path) if name != "pt" else requested_rungs(read_occupancy(path))
        if "beta" not in occ.attrs:
            raise InputError(f"{path}: expected attrs['beta'] (written by the {name} job), got {sorted(occ.attrs)}")
        estimates.append(occ.sel(estimator=[name])[["fraction", "lower", "upper", "chains"]])
        betas[name] = float(occ.attrs["beta"])
        # the SMC job labels its particles with the default rule unless its configuration names one
        rules[name] = str(occ.attrs.get("classifier", OCCUPANCY_RULE if name == "smc" else "unrecorded"))
    if len(estimates) < 2:
        return None
    if len(set(betas.values())) != 1:
        raise InputError(f"occupancy_compare: expected every estimator at one beta, got {betas}")
    out = check_writable_dir(out_dir)
    beta = next(iter(betas.values()))
    classifier = (next(iter(rules.values())) if len(set(rules.values())) == 1
                  else ", ".join(f"{k}: {v}" for k, v in rules.items()))
    both = combine_occupancy(estimates)
    both.attrs = {"level": both.attrs["level"], "beta": beta, "classifier": classifier}
    write_netcdf(both, out / "occupancy_compare.nc")
    write_dataset_csv(out / "occupancy_compare.csv", both, OCCUPANCY_COMPARE_COLUMNS, sort=("n", "phase", "estimator"))
    return out / "occupancy_compare.nc"
