"""The NUTS ladder bridge (``bayes_tms.reweight.reweighted_occupancy``) against the draw-fraction
table (``bayes_tms.occupancy.occupancy_table``) on the same posteriors, at the paper preset's size.

Run from the repository root::

    python benchmarks/bench_bridge.py                      # 20 rungs x 64 chains x 500 draws, c = 8
    python benchmarks/bench_bridge.py --chains 16 --draws 200 --rungs 8

Both estimators label the same draws and bootstrap over chains (1000 replicates); the bridge also
chains the likelihood ratios between rungs, from ``rung_deltas`` computed beforehand (their cost
is the data's, not the bridge's, and is printed apart). The posteriors are synthetic: chains stuck
near the k-gon phases of ``c`` (each chain at one phase, jittered per draw), labelled by the
package's classifier, so that the label arrays have the real run's shape and alphabet.

Prints one markdown table: seconds of each estimator (best of ``--repeat``) and their ratio. With
the defaults the bridge took 55x the draw fractions while it built a ``(bootstrap, chain, draw)``
array of labels to count the draws (once per rung and phase), 1.9x after (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _posteriors(features: int, rungs: int, chains: int, draws: int, seed: int):
    import arviz as az
    import xarray as xr

    from comparisons.theory import classify, enumerate_phases

    rng = np.random.default_rng(seed)
    phases = [p for p in enumerate_phases(features) if p.W is not None][:6]
    ns = [int(v) for v in np.unique(np.round(np.geomspace(100, 10000, rungs)).astype(int))]
    posts = {}
    for n in ns:
        pick = rng.integers(0, len(phases), size=chains)
        W = np.stack([phases[k].W for k in pick])[:, None] + 0.01 * rng.standard_normal((chains, draws, 2, features))
        b = np.stack([phases[k].b for k in pick])[:, None] + 0.01 * rng.standard_normal((chains, draws, features))
        labels, _ = classify(W, b)
        posts[n] = az.InferenceData(posterior=xr.Dataset(
            {"W": (("chain", "draw", "hidden", "feature"), W), "b": (("chain", "draw", "feature"), b),
             "phase": (("chain", "draw"), labels)}))
    return posts


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--features", type=int, default=8)
    p.add_argument("--rungs", type=int, default=20)
    p.add_argument("--chains", type=int, default=64)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    from bayes_tms.occupancy import occupancy_table
    from bayes_tms.reweight import reweighted_occupancy, rung_deltas
    from comparisons.theory import sample_inputs

    posts = _posteriors(args.features, args.rungs, args.chains, args.draws, args.seed)
    x = sample_inputs(max(posts), args.features, args.seed)
    t0 = time.perf_counter()
    deltas = rung_deltas(posts, x, 0.5)
    t_deltas = time.perf_counter() - t0
    t_table = _best(lambda: occupancy_table(posts, B=args.bootstrap, seed=0), args.repeat)
    t_bridge = _best(lambda: reweighted_occupancy(posts, x, beta=0.5, B=args.bootstrap, seed=0, deltas=deltas),
                     args.repeat)
    print(f"`python benchmarks/bench_bridge.py --features {args.features} --rungs {len(posts)} --chains "
          f"{args.chains} --draws {args.draws} --bootstrap {args.bootstrap}`\n")
    print("| estimator | seconds (best of {}) | ratio to the draw fractions |".format(args.repeat))
    print("|---|---:|---:|")
    print(f"| draw fractions (occupancy_table) | {t_table:.2f} | 1.00 |")
    print(f"| ladder bridge (reweighted_occupancy) | {t_bridge:.2f} | {t_bridge / t_table:.2f} |")
    print(f"\nrung_deltas beforehand (the data's block losses, once per run): {t_deltas:.2f} s")


if __name__ == "__main__":
    main()
