"""``tms-phases kgons`` and ``tms-phases theory``: the enumeration table and the free-energy theory."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from dataclasses import dataclass, field

from ..errors import InputError
from .flags import FlagTable, problem_flags
from ..theory import check_beta, crossings, dominant_intervals, enumerate_phases
from ..theory.kgons import measured_llc_overrides

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


def _beta(value: str) -> float:
    try:
        b = float(value)
    except ValueError:
        raise InputError(f"--beta: expected a positive finite number, got {value!r}") from None
    try:
        return check_beta(b)
    except InputError:
        raise InputError(f"--beta: expected a positive finite number, got {value}") from None


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
                "only, so crossings scale as 1/beta", "metavar": "B", "parse": _beta})
    laplace: bool = field(default=False, metadata={
        "help": "also the crossings of the free energies with their O(1) terms (Laplace on the curved "
                "directions, Monte Carlo flat volume; C^2 phases only; slower)"})


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
    from itertools import combinations

    from ..theory import laplace_crossing, laplace_free_energy

    smooth = [p for p in phases if not p.on_wall and not p.phi]
    out = []
    for a, b in combinations(smooth, 2):
        n = laplace_crossing(a, b, n_max=min(n_max, 1e5), beta=beta)
        if n is not None:
            lo = laplace_free_energy([a, b], [n * 0.9], beta=beta)
            first, second = (a, b) if lo[0, 0] < lo[1, 0] else (b, a)
            out.append({"from": first.label, "to": second.label, "n": n})
    return sorted(out, key=lambda e: e["n"])


def run_theory(args: argparse.Namespace) -> int:
    beta = getattr(args, "beta", 1.0)
    phases = enumerate_phases(args.features)
    measured = measured_llc_overrides(phases)  # only where the exact llc is missing
    cross = crossings(phases, n_max=args.n_max, beta=beta, llc=measured)
    dom = dominant_intervals(phases, n_min=10.0, n_max=args.n_max, beta=beta, llc=measured)
    lap = _laplace_crossings(phases, args.n_max, beta) if args.laplace else None
    if args.format == "json":
        out = {"features": args.features, "beta": beta, "phases": _rows(args.features), "crossings": cross,
               "dominant": dom,
               "llc_used": {p.label: {"llc": measured.get(p.label, p.llc if p.llc is not None else p.llc_bound),
                                      "source": "exact" if p.llc is not None else
                                      "measured" if p.label in measured else "bound"} for p in phases}}
        if lap is not None:
            out["laplace_crossings"] = lap
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
    return 0


run = run_kgons
