"""The measured-LLC job: the table of learning coefficients of the phases, and its figure.

The engine (:func:`bayes_tms.llc.measure_phases`) measures each phase and returns a
JSON-ready record; this job decides where they go: ``DIR/llc_measured_c{c}.json``, rewritten
atomically after every phase (an interrupted run keeps what it measured, and a rerun reuses every
part whose settings are unchanged), and the convergence figure ``DIR/llc_measured_c{c}.png``.
With ``DIR = comparisons/theory/data`` the table is the one the theory layer reads
(:func:`comparisons.theory.kgons.measured_llc_table`).
"""

from __future__ import annotations

__all__ = ["measure_phase_llcs", "plan_measurement", "reusable_records", "table_paths", "read_table",
           "plot_lambda_curves", "PARTS"]

import json
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from bayes_tms.llc import (DEAD_BIAS_MAX, FITS, MEASURE_DEFAULTS, PARTS, PLUS_NORM_MAX, measure_phases, stale_parts,
                            upgrade_table)

from ..folder import owned_folder
from ..io import save_figure, write_json


def table_paths(out, c: int) -> tuple[Path, Path]:
    """``(DIR/llc_measured_c{c}.json, DIR/llc_measured_c{c}.png)``."""
    out = Path(out)
    return out / f"llc_measured_c{int(c)}.json", out / f"llc_measured_c{int(c)}.png"


def read_table(path) -> dict:
    """A table written by :func:`measure_phase_llcs` (``{}`` if the file does not exist).

    A table written under older key names comes back with today's
    (:func:`bayes_tms.llc.upgrade_table`: the NUTS ``tune`` is ``warmup``), so it is reused as before.
    """
    path = Path(path)
    return upgrade_table(json.loads(path.read_text())) if path.is_file() else {}


def measure_phase_llcs(c: int, labels: Sequence[str], out, *, seed: int = 0, command: str = "",
                       progress: bool = True, **settings) -> dict:
    """Measure the phases ``labels`` of ``c`` features and store the table and its figure in ``out``.

    Parameters
    ----------
    c : int
        Features.
    labels : sequence of str
        Phase labels (measured in this order; phases of an older table not in ``labels`` are dropped).
    out : path-like
        Folder of ``llc_measured_c{c}.json`` and ``.png`` (:func:`table_paths`).
    seed : int
        Root seed of the measurements.
    command : str
        The command line that produced the table (recorded).
    progress : bool
        Print one line per phase.
    **settings
        Override :data:`bayes_tms.llc.MEASURE_DEFAULTS`.

    Returns
    -------
    dict
        ``{c, seed, command, settings, defaults, phases: [record...]}``, as written.

    Notes
    -----
    A record of an earlier table is reused only if its numbers are finite; a damaged file or
    record is named in a warning and measured again. While a rerun is under way the file holds the
    records measured so far and, after them, the earlier records of the phases not yet reached
    (each record carries its own ``seed``, ``settings`` and ``volume_settings``, which are what
    count; the table's header already describes the new run). The folder is owned by this job
    (:func:`comparisons.folder.owned_folder`).
    """
    with owned_folder(out, "llc --measure-phases", sampler="nuts",
                      config={"c": int(c), "labels": list(labels), "seed": int(seed), "settings": settings},
                      command=command or None) as folder:
        table = _measure(c, labels, folder.root, seed=seed, command=command, progress=progress, **settings)
        folder.finish(accumulate=True)  # the tables of other c stay beside this one
    return table


def plan_measurement(path, c: int, labels: Sequence[str], seed: int = 0) -> tuple[dict[str, list[str]], float]:
    """What ``llc --measure-phases`` would compute for ``labels`` given the table at ``path``, and its cost.

    Returns
    -------
    parts : dict
        ``label -> parts`` still to compute (among :data:`bayes_tms.llc.PARTS`; all of them where
        nothing is stored, none where everything is), from the records the job would reuse
        (:func:`reusable_records`) under today's settings (:func:`bayes_tms.llc.stale_parts`).
    seconds : float
        :func:`comparisons.cost.measure_seconds` of those parts under the engine's defaults.
    """
    from ..cost import measure_seconds

    records = reusable_records(path, c)
    parts = {lab: stale_parts(c, lab, records.get(lab), seed=seed) for lab in labels}
    seconds = measure_seconds(c, [lab for lab in labels if parts[lab]], len(MEASURE_DEFAULTS["ms"]), parts=parts,
                              volume=MEASURE_DEFAULTS["volume"], volume_repeats=MEASURE_DEFAULTS["volume_repeats"])
    return parts, seconds


def reusable_records(path, c: int) -> dict:
    """``phase -> record`` of the table at ``path`` that may be reused; damaged ones are named and left out.

    A record is reused only if its numbers are finite: the measured value and its curve
    ``lambda(m)`` (the volume slopes are fitted again from the stored curves, and a fit range with
    too few levels gives NaN there without damaging the record). A file that cannot be read is
    recomputed, never an error. The estimate of ``llc --measure-phases`` reads the same records.
    """
    path = Path(path)
    try:
        prev = read_table(path)
    except (OSError, ValueError) as exc:
        print(f"warning: {path} is damaged ({exc}); measuring every phase again", file=sys.stderr)
        return {}
    if not isinstance(prev, dict) or prev.get("c") != c or not isinstance(prev.get("phases"), list):
        return {}
    reuse = {}
    for rec in prev["phases"]:
        try:
            numbers = [rec["llc_measured"], rec["llc_se"]]
            numbers += [v for point in rec.get("curve", []) for v in (point["m"], point["llc"], point["se"])]
            ok = isinstance(rec["phase"], str) and bool(np.isfinite(np.asarray(numbers, dtype=float)).all())
        except (KeyError, TypeError, ValueError):
            ok = False
        if ok:
            reuse[rec["phase"]] = rec
        else:
            name = rec.get("phase") if isinstance(rec, dict) else None
            print(f"warning: {path}: the record of phase {name!r} is damaged (missing or non-finite numbers); "
                  "measuring it again", file=sys.stderr)
    return reuse


def _measure(c: int, labels: Sequence[str], out: Path, *, seed: int, command: str, progress: bool,
             **settings) -> dict:
    path, fig_path = table_paths(out, c)
    reuse = reusable_records(path, c)
    table = {"c": int(c), "seed": int(seed), "command": command,
             "settings": json.loads(json.dumps({**MEASURE_DEFAULTS, **settings})),
             "defaults": {"dead_bias_max": DEAD_BIAS_MAX, "plus_norm_max": PLUS_NORM_MAX}, "phases": []}
    # the earlier records of phases not yet measured stay in the file until their turn, so that
    # an interrupted run loses none of them (a rerun reuses them part by part)
    pending = {lab: reuse[lab] for lab in labels if lab in reuse}
    for rec in measure_phases(c, labels, seed=seed, reuse=reuse, **settings):
        table["phases"].append(rec)
        pending.pop(rec["phase"], None)
        write_json(path, {**table, "phases": table["phases"] + list(pending.values())})
        if progress:
            fits = ", ".join(f"{k} {f['llc']:.3f}" for k, f in rec["fits"].items())
            print(f"{rec['phase']:>6}: nuts {rec['llc_measured']:.3f} +- {rec['llc_se']:.3f}  ({fits})  "
                  f"volume {rec['volume_llc']:.3f} +- {rec['volume_se']:.3f}  exact {rec['llc_exact']}  "
                  f"bound {rec['llc_bound']}  search {rec['neighbourhood']['min_excess']:.2e}  "
                  f"{rec['wall_s']:.0f}s", flush=True)
    write_json(path, table)
    if table["phases"]:
        save_figure(plot_lambda_curves(table), fig_path)
    return table


def plot_lambda_curves(table: dict):
    """Convergence figure: ``lambda(m)`` against ``m`` with the fitted forms and the volume value.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    recs = table["phases"]
    ncol = min(3, len(recs)) or 1
    nrow = -(-len(recs) // ncol) or 1
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.2 * nrow), squeeze=False)
    for ax, rec in zip(axes.ravel(), recs):
        m = np.array([r["m"] for r in rec["curve"]])
        lam = np.array([r["llc"] for r in rec["curve"]], dtype=float)
        se = np.array([r["se"] for r in rec["curve"]], dtype=float)
        ax.errorbar(m, lam, yerr=se, fmt="o", ms=4, label="NUTS lambda(m)")
        grid = np.logspace(np.log10(m.min()), np.log10(m.max()) + 0.5, 100)
        for (form, f), style in zip(rec["fits"].items(), ("-", "--", ":")):
            lw = 1.6 if form == rec["fit"]["form"] else 0.8
            corr = 0.0 if FITS[form] is None else f["slope"] * FITS[form](grid)
            ax.plot(grid, f["llc"] + corr + 0 * grid, style, lw=lw,
                    label=f"{form}: {f['llc']:.2f}±{f['se']:.2f}")
        ax.axhline(rec["volume_llc"], color="C3", lw=0.8, ls="--",
                   label=f"volume: {rec['volume_llc']:.2f}±{rec['volume_se']:.2f}")
        if rec.get("llc_exact") is not None:
            ax.axhline(rec["llc_exact"], color="k", lw=0.8, label=f"exact {rec['llc_exact']:g}")
        else:
            ax.axhline(rec["llc_bound"], color="0.5", lw=0.8, ls="-.", label=f"rank/2 bound {rec['llc_bound']:g}")
        ax.set_xscale("log")
        ax.set_title(f"{rec['phase']} (c = {rec['c']})")
        ax.set_xlabel("m = n beta")
        ax.set_ylabel("E[m (L - L*)]")
        ax.legend(fontsize=6)
    for ax in axes.ravel()[len(recs):]:
        ax.axis("off")
    fig.tight_layout()
    return fig
