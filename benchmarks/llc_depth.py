"""Does a measured learning coefficient settle as the scale shrinks? Both LLC methods, deeper.

The shipped tables (``comparisons/theory/data/llc_measured_cC.json``) fit the volume-scaling slope
over ``1e-7 <= eps <= 1e-5`` and extrapolate the NUTS curve from ``m = 1e4`` to ``1e8``. Where the
two methods disagree, this script looks further: volume scaling down to ``--eps-min`` with the
linear slope fitted per two decades, and the NUTS curve ``lambda(m)`` at larger ``m``. Settings
are the tables' (``bayes_tms.llc.MEASURE_DEFAULTS``) otherwise; the seed is its own, so the runs
are independent of the tables'::

    python benchmarks/llc_depth.py -c 4 --phase 3 --eps-min 1e-9 --nuts-m 1e8,1e9,1e10

Prints, per volume repeat, the slope in each two-decade window, then their mean and standard error
over the repeats, then the NUTS curve. Nothing is written.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-c", "--features", type=int, default=4)
    p.add_argument("--phase", default="3")
    p.add_argument("--eps-min", type=float, default=1e-9, help="smallest level of the volume runs")
    p.add_argument("--repeats", type=int, default=3, help="volume runs (0: none)")
    p.add_argument("--nuts-m", default="1e8,1e9,1e10", help="values of m = n beta for NUTS ('' for none)")
    p.add_argument("--seed", type=int, default=11)
    args = p.parse_args(argv)

    from bayes_tms.llc import (
        MEASURE_DEFAULTS,
        lambda_curve,
        tms_target,
        volume_fit,
        volume_scaling,
    )
    from bayes_tms.llc.tempered import grid_stream
    from comparisons.theory import enumerate_phases

    phases = {q.label: q for q in enumerate_phases(args.features)}
    if args.phase not in phases:
        print(f"error: --phase: expected a phase of c = {args.features} ({', '.join(phases)}), got {args.phase!r}",
              file=sys.stderr)
        return 2
    if not 0 < args.eps_min < 1e-5:
        print(f"error: --eps-min: expected a number in (0, 1e-5), got {args.eps_min}", file=sys.stderr)
        return 2
    ph = phases[args.phase]
    target = tms_target(ph.W, ph.b, exact=ph.llc)
    # two-decade windows from the tables' (1e-7, 1e-5) down to eps_min
    hi_exp, lo_exp = -5, math.floor(math.log10(args.eps_min) + 1e-9)
    windows = [(10.0 ** (e - 2), 10.0 ** e) for e in range(hi_exp, lo_exp + 1, -1)]
    slopes = []
    for j in range(args.repeats):
        t0 = time.perf_counter()
        v = volume_scaling(target, rng=np.random.default_rng(grid_stream(args.seed, target, "volume", j)),
                           **{**MEASURE_DEFAULTS["volume"], "eps_min": args.eps_min})
        row = [volume_fit(v["eps"], v["log_v"], w, "linear") for w in windows]
        slopes.append(row)
        print(f"volume repeat {j}: " + "  ".join(f"({lo:g}, {hi:g}) {s:.3f}" for (lo, hi), s in zip(windows, row))
              + f"  [{time.perf_counter() - t0:.0f} s]", flush=True)
    if len(slopes) > 1:
        s = np.array(slopes)
        mean, se = s.mean(axis=0), s.std(axis=0, ddof=1) / math.sqrt(len(s))
        print("volume mean:     " + "  ".join(f"({lo:g}, {hi:g}) {m:.3f} +- {e:.3f}"
                                              for (lo, hi), m, e in zip(windows, mean, se)))
    ms = [float(m) for m in args.nuts_m.split(",") if m.strip()]
    if ms:
        t0 = time.perf_counter()
        curve = lambda_curve(target, ms, seed=args.seed, **MEASURE_DEFAULTS["nuts"])
        print("NUTS lambda(m):  " + "  ".join(f"m = {c['m']:g}: {c['llc']:.3f} +- {c['se']:.3f}" for c in curve)
              + f"  [{time.perf_counter() - t0:.0f} s]")
    print(f"phase {args.phase} at c = {args.features}: shipped NUTS {ph.llc_measured}, bound {ph.llc_bound}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
