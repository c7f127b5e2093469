"""Accuracy check (not speed) of one grid point of the population-loss LLC: NUTS repeated over
seeds, or importance sampling.

Usage (from the repository root)::

    python benchmarks/check_population_point.py -c 6 --phase 6 --m 1e8 --repeats 10
    python benchmarks/check_population_point.py -c 4 --phase 4 --m 1e6 --repeats 10
    python benchmarks/check_population_point.py -c 4 --phase 4 --m 1e6 --method is --samples 4e6
    python benchmarks/check_population_point.py --toy jump --m 1e6 --repeats 10

Runs :func:`bayes_tms.llc.nuts_lambda` at one ``m = n beta`` on the phase's basin
(:func:`~bayes_tms.llc.tms_target`, the shipped tables' restriction), ``--repeats``
times on independent streams ``child_sequence(seed, "bias", c, phase, log10 m, warmup, j)``, with
the NUTS settings of the shipped tables (``MEASURE_DEFAULTS["nuts"]``, ``--warmup`` overrides the
warm-up). Prints each estimate with its ESS-based SE, then as JSON the mean over repeats and its
SE (from the scatter between repeats, independent of the ESS), the mean reported SE and the
scatter itself. Two questions it answers: is a grid point biased (the mean over repeats against
an exact value or a bound), and is the reported SE honest (scatter against mean reported SE)?
``--toy NAME`` runs a known-answer toy of ``tests/llc_toys.py's TOYS`` instead of a phase
(``exact`` is then its ``E_m[m L]`` at this ``m``, by quadrature).

``--method is``: :func:`bayes_tms.llc.importance_lambda`, self-normalised importance
sampling of the same ``E_m[m (L - L*)]`` (prior and basin included), no Markov chain. It needs a
Hessian of full rank at ``w*`` after the gauge (e.g. 4 at c = 4, not the phases with dead
columns); heavy weights (a small ESS) make its SE optimistic, so compare two ``--scale``.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

import sys
from pathlib import Path

from bayes_tms.llc import MEASURE_DEFAULTS, importance_lambda, nuts_lambda, tms_target
from comparisons import cost
from comparisons.cost import confirm
from comparisons.errors import InputError
from comparisons.theory import child_sequence, enumerate_phases

# the known-answer toys are test fixtures (tests/llc_toys.py)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from llc_toys import TOYS, toy_exact_lambda, toy_target  # noqa: E402


#: seconds per importance-sampling draw (population loss and Student-t density of one draw)
IS_DRAW_S = 2e-5


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-c", type=int, default=6, help="features (default 6)")
    ap.add_argument("--phase", default="6", help="phase label of enumerate_phases(c) (default 6)")
    ap.add_argument("--toy", choices=tuple(TOYS), help="a known-answer toy instead of a phase")
    ap.add_argument("--m", type=float, default=1e8, help="inverse temperature n beta (default 1e8)")
    ap.add_argument("--repeats", type=int, default=10, help="independent repeats (default 10)")
    ap.add_argument("--warmup", type=int, default=MEASURE_DEFAULTS["nuts"]["warmup"], help="NUTS warm-up steps")
    ap.add_argument("--target-accept", type=float, default=0.9, help="NUTS target acceptance (default 0.9)")
    ap.add_argument("--seed", type=int, default=777, help="root seed (default 777)")
    ap.add_argument("--method", choices=("nuts", "is"), default="nuts",
                    help="NUTS repeated over seeds (default), or importance sampling")
    ap.add_argument("--samples", type=float, default=1e6, help="--method is: proposal draws (default 1e6)")
    ap.add_argument("--scale", type=float, default=2.0, help="--method is: proposal scale (default 2)")
    ap.add_argument("--dof", type=float, default=5.0, help="--method is: Student-t degrees of freedom (default 5)")
    ap.add_argument("--yes", action="store_true", help="start even if the estimate exceeds one hour")
    args = ap.parse_args(argv)
    if not (math.isfinite(args.m) and args.m > 0):
        ap.error(f"--m: expected a finite number > 0, got {args.m:g}")
    if args.repeats < 2:
        ap.error(f"--repeats: expected at least 2 (the SE comes from their scatter), got {args.repeats}")
    for name in ("samples", "scale", "dof"):
        value = getattr(args, name)
        if not (math.isfinite(value) and value > 0):
            ap.error(f"--{name}: expected a finite number > 0, got {value:g}")
    if not 0 < args.target_accept < 1:
        ap.error(f"--target-accept: expected a number in (0, 1), got {args.target_accept:g}")
    for name in ("warmup", "seed"):
        if getattr(args, name) < 0:
            ap.error(f"--{name}: expected an integer >= 0, got {getattr(args, name)}")
    try:
        confirm(_seconds(args), f"{args.repeats if args.method == 'nuts' else 1} estimate(s) at m = {args.m:g} "
                f"({args.method})", args.yes)
        return _run(ap, args)
    except InputError as e:  # the library's one-line message, without a traceback
        ap.error(str(e))


def _seconds(args: argparse.Namespace) -> float:
    """Estimated seconds (:mod:`comparisons.cost`): one measure-phases grid point per NUTS repeat,
    scaled by its steps; importance sampling by its draws."""
    if args.method == "is":
        return cost.STARTUP_S + args.samples * IS_DRAW_S
    nuts = MEASURE_DEFAULTS["nuts"]
    steps = (nuts["draws"] + args.warmup) / (nuts["draws"] + nuts["warmup"])
    label = args.toy or args.phase
    family = "kgon" if args.toy or int("".join(ch for ch in label if ch.isdigit()) or 0) >= 4 else "wall"
    return cost.STARTUP_S + args.repeats * cost.MEASURE_POINT_S[family] * steps


def _run(ap: argparse.ArgumentParser, args: argparse.Namespace) -> dict:
    if args.toy:
        target, exact, bound = toy_target(args.toy), toy_exact_lambda(args.toy, args.m), TOYS[args.toy][1]
        args.c, args.phase = 0, args.toy
    else:
        phases = {p.label: p for p in enumerate_phases(args.c)}
        if args.phase not in phases:
            ap.error(f"--phase: expected one of {', '.join(phases)}, got {args.phase}")
        p = phases[args.phase]
        target, exact, bound = tms_target(p.W, p.b, exact=p.llc), p.llc, p.llc_bound
    if args.method == "is":
        rng = np.random.default_rng(child_sequence(args.seed, "is", args.c, args.phase,
                                                   int(round(math.log10(args.m)))))
        res = importance_lambda(target, args.m, samples=int(args.samples), scale=args.scale, dof=args.dof, rng=rng)
        out = {"c": args.c, "phase": args.phase, "m": args.m, "method": "is", "scale": args.scale,
               "dof": args.dof, "exact": exact, "bound": bound, **res}
        print(json.dumps(out))
        return out
    nuts = {**MEASURE_DEFAULTS["nuts"], "warmup": args.warmup, "target_accept": args.target_accept}
    rows = []
    for j in range(args.repeats):
        t0 = time.perf_counter()
        ss = child_sequence(args.seed, "bias", args.c, args.phase, int(round(math.log10(args.m))), args.warmup, j)
        e = nuts_lambda(target, args.m, seed=ss, **nuts)
        rows.append((e.llc, e.se))
        print(j, round(e.llc, 3), round(e.se, 3), "ess", round(e.ess), "divergences", e.divergences,
              f"{time.perf_counter() - t0:.0f}s", flush=True)
    v = np.array([r[0] for r in rows])
    out = {"c": args.c, "phase": args.phase, "m": args.m, "warmup": args.warmup, "target_accept": args.target_accept,
           "exact": exact, "bound": bound,
           "mean": float(v.mean()), "se": float(v.std(ddof=1) / math.sqrt(len(v))),
           "mean_reported_se": float(np.mean([r[1] for r in rows])), "sd_between": float(v.std(ddof=1))}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
