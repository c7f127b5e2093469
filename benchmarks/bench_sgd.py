"""Benchmark of sgd_tms: the batched ensemble against ordinary single-run training, and the
batched LLC estimation against one checkpoint at a time.

Training: ``R`` runs of the paper's protocol for ``--epochs`` epochs (a reduced number; both
sides do exactly the same work) as (a) a loop over runs, each one ``nn.Module`` plus
``torch.optim.SGD`` with autograd, the ordinary way, and (b) one call of :func:`sgd_tms.train`.
LLC: localised SGLD at ``--llc-runs`` x ``--llc-checkpoints`` checkpoints with ``--llc-chains``
chains and ``--llc-draws`` steps, (a) one checkpoint (its chains batched) at a time, (b) all at
once with :func:`sgd_tms.estimate_llc`. With ``--full`` also times the full paper protocol
(4500 epochs, checkpoints every 30) for the ensemble alone.

The last line of output is JSON: ``train_ratio`` (loop / ensemble), ``llc_ratio``
(one-at-a-time / batched) and the times behind them.

Usage: ``python benchmarks/bench_sgd.py [--runs 100] [--epochs 5] [--full]``
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, before site-packages

from comparisons.cost import STARTUP_S, confirm, sgd_seconds
from comparisons.errors import InputError
from sgd_tms import LLCConfig, TrainConfig, estimate_llc, onehot_tensors, sgld_llc, train
from sgd_tms.train import initial_parameters, threads, training_data


#: how many times slower the loops of single runs (nn.Module + autograd) and of single checkpoints
#: are guessed to be than the batched calls, for the cost estimate only
LOOP_FACTOR = 10


class TMS(nn.Module):
    """One TMS model written the ordinary way."""

    def __init__(self, W: np.ndarray, b: np.ndarray):
        super().__init__()
        self.W = nn.Parameter(torch.as_tensor(W, dtype=torch.float64).clone())
        self.b = nn.Parameter(torch.as_tensor(b, dtype=torch.float64).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x @ self.W.T @ self.W + self.b)


def loop_of_single_runs(cfg: TrainConfig) -> float:
    """Train each run separately with nn.Module + torch.optim.SGD; return the seconds taken."""
    runs = list(range(cfg.runs))
    x_all = torch.as_tensor(training_data(cfg, runs))
    W0, b0 = initial_parameters(cfg, runs)
    t0 = time.perf_counter()
    for r in runs:
        model = TMS(W0[r], b0[r])
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
        x = x_all[r]
        g = torch.Generator().manual_seed(r)
        for _ in range(cfg.epochs):
            perm = torch.randperm(cfg.n, generator=g)
            for s in range(0, cfg.n, cfg.batch_size):
                xb = x[perm[s:s + cfg.batch_size]]
                opt.zero_grad()
                loss = ((model(xb) - xb) ** 2).sum(-1).mean()
                loss.backward()
                opt.step()
    return time.perf_counter() - t0


def llc_one_at_a_time(ds, cfg: LLCConfig) -> float:
    """LLC at each (run, checkpoint) separately (its chains batched); return the seconds taken."""
    t0 = time.perf_counter()
    K = cfg.chains
    for i in range(ds.sizes["run"]):
        data = onehot_tensors(ds["x"].values[i])
        for t in range(ds.sizes["step"]):
            W = torch.as_tensor(ds["W"].values[i, t]).expand(1, K, *ds["W"].shape[2:])
            b = torch.as_tensor(ds["b"].values[i, t]).expand(1, K, ds.sizes["feature"])
            sgld_llc(W.contiguous(), b.contiguous(), data, cfg, torch.Generator().manual_seed(t))
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--epochs", type=int, default=20, help="epochs of the reduced training comparison")
    p.add_argument("--llc-runs", type=int, default=10)
    p.add_argument("--llc-checkpoints", type=int, default=15)
    p.add_argument("--llc-chains", type=int, default=4)
    p.add_argument("--llc-draws", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--full", action="store_true", help="also time the full paper protocol ensemble")
    p.add_argument("--yes", action="store_true", help="start even if the estimate exceeds one hour")
    args = p.parse_args()
    try:
        cfg = TrainConfig(runs=args.runs, epochs=args.epochs, checkpoint_every=0)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    small = TrainConfig(runs=args.llc_runs, epochs=10 * args.llc_checkpoints, checkpoint_every=10)
    lcfg = LLCConfig(chains=args.llc_chains, draws=args.llc_draws, threads=args.threads)
    # the cost model (comparisons.cost) for the batched side; the loops of single runs and of single
    # checkpoints are taken as LOOP_FACTOR times slower (a rough guess, printed as such)
    one = sgd_seconds(cfg) - STARTUP_S
    seconds = STARTUP_S + one * (1 + LOOP_FACTOR) + (sgd_seconds(small, lcfg) - STARTUP_S) * (1 + LOOP_FACTOR)
    if args.full:
        seconds += sgd_seconds(TrainConfig(runs=args.runs)) - STARTUP_S
    try:
        confirm(seconds, f"{args.runs} runs x {args.epochs} epochs twice and the LLC at {args.llc_runs} x "
                f"{args.llc_checkpoints} checkpoints twice (the loops guessed {LOOP_FACTOR}x slower)", args.yes)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    with threads(args.threads):
        t_loop = loop_of_single_runs(cfg)
    t0 = time.perf_counter()
    train(cfg)
    t_ens = time.perf_counter() - t0
    print(f"training {args.runs} runs x {args.epochs} epochs: loop {t_loop:.2f}s, ensemble {t_ens:.2f}s")

    ds = train(small).isel(step=slice(1, None))  # the checkpoints after the init
    with threads(args.threads), torch.inference_mode():
        t_llc_loop = llc_one_at_a_time(ds, lcfg)
    t0 = time.perf_counter()
    estimate_llc(ds, lcfg)
    t_llc = time.perf_counter() - t0
    print(f"LLC {args.llc_runs} runs x {ds.sizes['step']} checkpoints x {args.llc_chains} chains x "
          f"{args.llc_draws} draws: one at a time {t_llc_loop:.2f}s, batched {t_llc:.2f}s")
    result = {
        "train_ratio": t_loop / t_ens, "llc_ratio": t_llc_loop / t_llc,
        "train_loop_s": t_loop, "train_ensemble_s": t_ens, "train_runs": args.runs,
        "train_epochs": args.epochs, "llc_loop_s": t_llc_loop, "llc_batched_s": t_llc,
        "llc_checkpoints": int(ds.sizes["run"] * ds.sizes["step"]), "llc_chains": args.llc_chains,
        "llc_draws": args.llc_draws, "threads": args.threads,
    }
    if args.full:
        t0 = time.perf_counter()
        train(TrainConfig(runs=args.runs))
        result["full_protocol_train_s"] = time.perf_counter() - t0
        print(f"full paper protocol, {args.runs} runs x 4500 epochs: {result['full_protocol_train_s']:.1f}s")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
