"""``tms-phases kgons`` and ``tms-phases theory``: the enumeration table and the free-energy theory."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..config_file import positive_float_arg
from ..errors import InputError
from ..theory import crossings, dominant_intervals, enumerate_phases
from ..theory.kgons import measured_llc_overrides
from .flags import FlagTable, problem_flags

if TYPE_CHECKING:
    import xarray as xr

FORMATS_KGONS = ("table", "json", "csv")
FORMATS_THEORY = ("table", "json")


def _n_max(value: str) -> float:
    try:
        n = float(value)
    except ValueError:
        raise InputError(f"--n-max: expected a number above 10, got {value!r}") from None
    if not (n > 10 and math.isfinite(n)):
        raise InputError(f"--n-max: expected a number above 10, got {value}")
    return n


def _labels(value: str) -> list[str]:
    labels = [v.strip() for v in value.split(",") if v.strip()]
    if not labels:
        raise InputError(f"--phases: expected comma-separated phase labels, got {value!r}")
    return labels


@dataclass(frozen=True)
class KgonsOptions:
    """The options of ``tms-phases kgons`` beside ``--features``."""

    format: str = field(default="table", metadata={
        "help": "table (human), json (list of objects) or csv", "choices": FORMATS_KGONS, "metavar": "FORMAT"})


@dataclass(frozen=True)
class TheoryOptions:
    """The options of ``tms-phases theory`` beside ``--features``."""

    n_max: float = field(default=1e6, metadata={
        "help": "largest sample size considered for crossings", "metavar": "N", "parse": _n_max})
    format: str = field(default="table", metadata={
        "help": "table (human) or json", "choices": FORMATS_THEORY, "metavar": "FORMAT"})
    beta: float = field(default=1.0, metadata={
        "help": "inverse temperature of the posterior exp(-n beta L_n); every prediction depends on n beta "
                "only, so crossings scale as 1/beta", "metavar": "B", "parse": positive_float_arg("--beta")})
    laplace: bool = field(default=False, metadata={
        "help": "also the crossings of the free energies with their O(1) terms (Laplace on the curved "
                "directions, Monte Carlo flat volume; C^2 phases only; slower) and the dominant sequence "
                "with O(1) terms on every phase (walls: the measured local free energy of "
                "comparisons/theory/data/free_energy_cC.json)"})
    measure_free_energy: bool = field(default=False, metadata={
        "help": "measure the local free energies of --phases (prior volume of the basin's sublevel sets by "
                "subset simulation) and write comparisons/theory/data/free_energy_cC.json (stored phases are "
                "reused); slow"})
    judge: str | None = field(default=None, metadata={
        "help": "compare the dominant sequence with O(1) terms with the switch points of a PT run on the "
                "population loss (PT_DIR/transitions.nc of tms-phases bayes --sampler pt --population, or "
                "docs/results/data with the run stored by tms-phases docs store pt; its c and beta are used): "
                "predicted, measured, ratio", "metavar": "PT_DIR"})
    phases: list | None = field(default=None, metadata={
        "help": "with --measure-free-energy: phase labels (default: the wall phases that the dominant "
                "sequence with O(1) terms compares at C)", "metavar": "L1,L2", "parse": _labels})


def add_kgons_arguments(parser: argparse.ArgumentParser) -> None:
    problem_flags().add_to(parser)
    FlagTable(KgonsOptions, defaults=True).add_to(parser)


def add_theory_arguments(parser: argparse.ArgumentParser) -> None:
    problem_flags().add_to(parser)
    FlagTable(TheoryOptions, defaults=True).add_to(parser)


add_arguments = add_kgons_arguments

_COLUMNS = ["label", "k", "sigma", "phi", "length", "bias", "loss", "prior_term", "llc", "grad_norm",
            "hessian_rank", "llc_measured", "llc_se"]


def _rows(c: int) -> list[dict]:
    return [p.to_dict() for p in enumerate_phases(c)]


def _table(rows: list[dict], columns: list[str]) -> str:
    def fmt(v) -> str:
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else ""
        if isinstance(v, float):
            return f"{v:.3e}" if v != 0 and abs(v) < 1e-4 else f"{v:.6g}"
        return str(v)

    cells = [[fmt(r[k]) for k in columns] for r in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(columns)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def run_kgons(args: argparse.Namespace) -> int:
    rows = _rows(args.features)
    if args.format == "json":
        print(json.dumps([{k: r[k] for k in _COLUMNS + ["llc_method"]} for r in rows], indent=2))
    elif args.format == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=_COLUMNS + ["llc_bound", "on_wall", "llc_method"], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        print(buf.getvalue(), end="")
    else:
        print(f"k-gon critical points of the TMS potential, r = 2, c = {args.features} "
              f"(loss = population loss L; H = 3cL; llc '-' where L is not C^2: see llc_bound; "
              f"llc_measured: exact population loss, NUTS extrapolated, see llc_method)")
        print(_table(rows, _COLUMNS + ["llc_bound", "on_wall"]))
    return 0


def _laplace_crossings(phases, n_max: float, beta: float = 1.0) -> list[dict]:
    """Every Laplace crossing of every pair of smooth phases up to ``n_max`` (a pair can cross twice:
    :func:`comparisons.theory.laplace_crossings`), ``{"from", "to", "n"}`` in increasing ``n``."""
    from itertools import combinations

    from ..theory import laplace_crossings

    smooth = [p for p in phases if not p.on_wall and not p.phi]
    out = [e for a, b in combinations(smooth, 2) for e in laplace_crossings(a, b, n_max=min(n_max, 1e5), beta=beta)]
    return sorted(out, key=lambda e: e["n"])


def _run_measure(args: argparse.Namespace) -> int:
    from ..jobs.local_free_energy import measure_local_free_energies
    from ..theory.local_free_energy import phases_to_measure

    labels = args.phases or phases_to_measure(args.features)  # checked by the job, before any work

    cmd = f"tms-phases theory --measure-free-energy -c {args.features} --phases {','.join(labels)}"
    table = measure_local_free_energies(args.features, labels, command=cmd)
    print(json.dumps({"features": args.features, "measured": sorted(table["phases"])}))
    return 0


def _sequence_rows(c: int, n_max: float, beta: float) -> list[dict]:
    from ..theory.local_free_energy import dominant_sequence

    return dominant_sequence(c, beta=beta, n_min=10.0, n_max=n_max, terms="o1")


def read_judge_run(folder: str | Path) -> tuple[xr.Dataset, int, float, tuple[float, float]]:
    """The inputs of the judge from a PT run on the population loss: its phase-level switches, ``c``,
    ``beta`` and the ends of its n-ladder.

    ``folder`` is either the run's folder (``config.json`` and ``transitions.nc`` of ``tms-phases
    bayes --sampler pt --population``) or ``docs/results/data`` holding the run stored by ``tms-phases
    docs store pt`` (``pt_population_transitions.nc``, whose attrs give ``c``, ``beta`` and
    ``population``, and ``pt_population_diagnostics.nc``, whose rungs give the ladder).

    Raises
    ------
    InputError
        The folder holds neither, or the run is not on the population loss.
    """
    import numpy as np
    import xarray as xr

    from ..contracts import ContractError, level_switches, read_transitions

    folder = Path(folder)
    stored = not (folder / "config.json").is_file() and (folder / "pt_population_transitions.nc").is_file()
    try:
        if stored:
            transitions = read_transitions(folder / "pt_population_transitions.nc")
            with xr.open_dataset(folder / "pt_population_diagnostics.nc", engine="h5netcdf") as diag:
                rungs = np.asarray(diag["n"].values, dtype=float)
            config = {"population": transitions.attrs.get("population"), "features": transitions.attrs["features"],
                      "beta": transitions.attrs.get("beta", 1.0), "ns": [rungs.min(), rungs.max()]}
        else:
            config = json.loads((folder / "config.json").read_text())
            transitions = read_transitions(folder / "transitions.nc")
    except (OSError, ValueError, KeyError, ContractError) as exc:
        raise InputError(f"--judge: expected a PT run folder with config.json and transitions.nc (or the stored "
                         f"pt_population_*.nc), got {str(folder)!r} ({type(exc).__name__})") from None
    if not config.get("population"):
        raise InputError(f"--judge: expected a PT run on the population loss (--population), got {str(folder)!r}")
    ns = config["ns"]
    return (level_switches(transitions, "phase"), int(config["features"]), float(config.get("beta", 1.0)),
            (float(ns[0]), float(ns[-1])))


def judge_rows(switches: xr.Dataset, c: int, beta: float, ladder: tuple[float, float],
               n_max: float = 1e6) -> list[dict]:
    """The dominant sequence with O(1) terms (within the ladder, or measured) judged against the
    switches of a PT run on the population loss (:func:`comparisons.theory.judge_predictions`; a
    switch that repeats within the noise counted once, as :func:`comparisons.contracts.switch_stretches`
    merges it), each row with ``all_measured``: the same crossing with ``terms="measured"`` (None where it has none)."""
    from ..theory import dominant_sequence, judge_predictions

    from ..contracts import switch_stretches

    st = switch_stretches(switches)  # a switch that flips back and forth within the noise is one stretch
    measured = {(str(a), str(b)): (float(n), float(lo), float(hi)) for a, b, n, lo, hi in zip(
        st["from"].values, st["to"].values, st["n"].values, st["lower"].values, st["upper"].values)}
    seq = [e for e in _sequence_rows(c, n_max, beta)
           if ladder[0] <= e["n"] <= ladder[1] or (e["from"], e["to"]) in measured]
    rows = judge_predictions(seq, measured)
    alt = {(e["from"], e["to"]): e["n"] for e in dominant_sequence(c, beta=beta, n_max=n_max, terms="measured")}
    for r in rows:  # the same pairs with the measured values on the C^2 phases too, for comparison
        r["all_measured"] = alt.get((r["from"], r["to"]))
    return rows


def _run_judge(args: argparse.Namespace) -> int:
    switches, c, beta, ladder = read_judge_run(args.judge)
    rows = judge_rows(switches, c, beta, ladder, args.n_max)
    lo, hi = (int(v) if float(v).is_integer() else v for v in ladder)
    if args.format == "json":
        print(json.dumps({"features": c, "beta": beta, "ladder": [lo, hi], "rows": rows}, indent=2))
        return 0
    print(f"Dominant sequence with O(1) terms against the PT switch points of {args.judge} (c = {c}, beta = {beta:g}, "
          f"ladder {lo}..{hi}); ratio = predicted / measured, miss: off by more than 20%")
    print(_table(rows, ["from", "to", "predicted", "predicted_lo", "predicted_hi", "all_measured", "asymptotic",
                        "measured",
                        "measured_lo", "measured_hi", "ratio", "miss"]))
    return 0


def run_theory(args: argparse.Namespace) -> int:
    if getattr(args, "measure_free_energy", False):
        return _run_measure(args)
    if getattr(args, "judge", None) is not None:
        return _run_judge(args)
    if getattr(args, "phases", None) is not None:
        raise InputError("--phases: expected only with --measure-free-energy, got it without")
    beta = getattr(args, "beta", 1.0)
    phases = enumerate_phases(args.features)
    measured = measured_llc_overrides(phases)  # only where the exact llc is missing
    cross = crossings(phases, n_max=args.n_max, beta=beta, llc=measured)
    dom = dominant_intervals(phases, n_min=10.0, n_max=args.n_max, beta=beta, llc=measured)
    lap = _laplace_crossings(phases, args.n_max, beta) if args.laplace else None
    seq = _sequence_rows(args.features, args.n_max, beta) if args.laplace else None
    if args.format == "json":
        out = {"features": args.features, "beta": beta, "phases": _rows(args.features), "crossings": cross,
               "dominant": dom,
               "llc_used": {p.label: {"llc": measured.get(p.label, p.llc if p.llc is not None else p.llc_bound),
                                      "source": "exact" if p.llc is not None else
                                      "measured" if p.label in measured else "bound"} for p in phases}}
        if lap is not None:
            out["laplace_crossings"] = lap
            out["dominant_sequence"] = seq
        print(json.dumps(out, indent=2))
        return 0
    print(f"Free energy F_n = n beta L + llc log(n beta) + |w*|^2/2 (prior N(0,1), beta = {beta:g}), "
          f"c = {args.features}")
    print("llc: theory where L is C^2 at the phase, else measured on the population loss (marked m, "
          f"{len(measured)} phases), else the Hessian-rank bound (marked *)\n")
    print(_table([{"phase": p.label, "loss": p.loss, "llc": p.llc if p.llc is not None else
                   f"{measured[p.label]:.3f}m" if p.label in measured else f"{p.llc_bound:g}*",
                   "prior_term": p.prior_term} for p in phases], ["phase", "loss", "llc", "prior_term"]))
    print(f"\nDominant phase as n grows from 10 to {args.n_max:g}:")
    print(_table(dom, ["n_from", "n_to", "phase"]))
    relevant = {d["phase"] for d in dom}
    shown = [e for e in cross if e["from"] in relevant and e["to"] in relevant]
    print(f"\nCrossings among the dominant phases ({len(shown)} of {len(cross)}; --format json lists all):")
    print(_table(shown, ["from", "to", "n"]))
    if lap is not None:
        print("\nCrossings of the free energies with O(1) terms (Laplace + flat volume; C^2 phases only):")
        print(_table(lap, ["from", "to", "n"]))
        print("\nDominant sequence with O(1) terms on every phase (n_lo..n_hi: +-2 SE of the measured local "
              "free energies; comparisons.theory.dominant_sequence):")
        print(_table(seq, ["from", "to", "n", "n_lo", "n_hi", "n_asymptotic", "method"]))
    return 0


run = run_kgons
