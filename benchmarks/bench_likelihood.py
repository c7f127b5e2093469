"""Benchmark: dense vs exact one-hot likelihood (log density + gradient), and a small NUTS run.

Times ``model.logp_dlogp_function(ravel_inputs=True)`` -- the function PyMC's default NUTS
sampler calls, compiled with PyTensor's default (C) backend -- at n = 1e2, 1e3, 1e4, 1e5 for
c = 6, then a short PyMC NUTS run each way at n = 1e4. The last output line is JSON.

Usage: python benchmarks/bench_likelihood.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
import json
import logging
import time
import timeit

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from anywhere without install


def _time_call(fn, q, budget_s: float = 0.5) -> float:
    fn(q)
    number = 1
    while True:  # calibrate so that one repeat takes about budget_s / 3
        t = timeit.timeit(lambda: fn(q), number=number)
        if t > budget_s / 3 or number > 1_000_000:
            break
        number *= 4
    return min(timeit.repeat(lambda: fn(q), number=number, repeat=3)) / number


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip n = 1e5 for dense and the NUTS runs")
    ap.add_argument("--features", type=int, default=6)
    args = ap.parse_args()
    logging.getLogger("pymc").setLevel(logging.ERROR)
    from comparisons.theory import sample_inputs

    from bayes_tms import build_model

    c = args.features
    ns = [100, 1000, 10_000, 100_000]
    x_all = sample_inputs(max(ns), c, 0)
    q = np.random.default_rng(0).normal(size=2 * c + c)
    res: dict = {"n": ns, "dense_us": [], "fast_us": [], "features": c}
    for n in ns:
        for kind, key in (("dense", "dense_us"), ("onehot", "fast_us")):
            if kind == "dense" and args.quick and n > 10_000:
                res[key].append(None)
                continue
            model = build_model(x_all[:n], likelihood=kind)
            fn = model.logp_dlogp_function(ravel_inputs=True)
            fn.set_extra_values({})
            us = _time_call(fn, q) * 1e6
            res[key].append(us)
            print(f"n={n:>6} {kind:>6}: {us:9.2f} us per logp+grad", flush=True)
    res["ratio_at_1e4"] = res["dense_us"][2] / res["fast_us"][2]
    res["fast_1e5_over_1e3"] = res["fast_us"][3] / res["fast_us"][1]
    if not args.quick:
        import pymc as pm

        n = 10_000
        for kind in ("dense", "onehot"):
            model = build_model(x_all[:n], likelihood=kind)
            t0 = time.perf_counter()
            with model:
                idata = pm.sample(draws=200, tune=200, chains=2, cores=1, random_seed=1,
                                  progressbar=False, compute_convergence_checks=False)
            wall = time.perf_counter() - t0
            div = int(idata.sample_stats["diverging"].sum())
            res[f"nuts_{kind}_s"] = wall
            print(f"PyMC NUTS n={n} {kind}: 2 chains x 400 iterations in {wall:.1f} s, {div} divergences",
                  flush=True)
        try:
            import nutpie

            from bayes_tms.likelihood import register_numba

            register_numba()
            model = build_model(x_all[:n], likelihood="onehot")
            compiled = nutpie.compile_pymc_model(model, default_initialization_strategy="prior")
            t0 = time.perf_counter()
            nutpie.sample(compiled, draws=500, tune=500, chains=4, cores=2, seed=1, progress_bar=False)
            res["nuts_nutpie_onehot_s"] = time.perf_counter() - t0
            print(f"nutpie NUTS n={n} onehot: 4 chains x 1000 iterations in "
                  f"{res['nuts_nutpie_onehot_s']:.1f} s (excluding numba compilation)", flush=True)
        except ImportError:
            pass
    print(json.dumps(res))


if __name__ == "__main__":
    main()
