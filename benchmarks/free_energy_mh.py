"""How many Metropolis steps per level the measured local free energy needs: the gap to Laplace.

The measured local free energy (``comparisons.theory.local_free_energy``) integrates the prior
volume ``V(eps)`` of a phase's basin, measured by subset simulation
(``comparisons.jobs.local_free_energy``): each level keeps the particles below the level's
``eps`` and moves them by ``mh_steps`` Metropolis steps within it. Too few steps leave the moved
particles correlated with their seeds, and the level fractions biased. The bias compounds over
the levels down to ``eps = 1e-5`` (150 to 200 of them at c = 8), so it shows at large ``n``,
where ``F_n`` is set by the smallest ``eps``.

On a C^2 phase Laplace is a second, independent value of the same ``F_n`` (exact up to terms
that shrink with ``n``): the gap ``measured - Laplace`` should settle to a constant of a nat or
two as ``n`` grows, not drift. This script measures each phase at each ``--mh`` setting (same
seed and settings as the shipped tables otherwise) and prints the gap at several ``n`` with its
standard error over the repeats, ``log V`` at the last level of each repeat, and the seconds of
the measurement (of the stored one when ``--out`` already holds it)::

    python benchmarks/free_energy_mh.py -c 8 --phases 7,7+,6 --mh 60,120,240 --repeats 4 --out /tmp/fe_mh

The tables it measures are written under ``--out`` (one folder per phase and setting; reused
when present), never into the package's data.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-c", "--features", type=int, default=8)
    p.add_argument("--phases", default="7,7+,6", help="C^2 phase labels (they need a Laplace value)")
    p.add_argument("--mh", default="60,120,240", help="Metropolis steps per level to compare")
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--n", default="100,300,1000,2148,5000")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)

    from comparisons.jobs.local_free_energy import measure_local_free_energies
    from comparisons.theory import enumerate_phases, laplace_free_energy
    from comparisons.theory.free_energy import effective_llc
    from comparisons.theory.kgons import measured_llc_overrides
    from comparisons.theory.local_free_energy import volume_free_energy

    phases = {q.label: q for q in enumerate_phases(args.features)}
    c2 = sorted(lab for lab, q in phases.items() if not q.on_wall and not q.phi)
    bad = [lab for lab in args.phases.split(",") if lab not in c2]
    if bad:  # a wall phase has no Laplace value to compare with
        p.error(f"--phases: expected C^2 phases of c = {args.features} ({', '.join(c2)}), got {', '.join(bad)}")
    n = np.array([float(v) for v in args.n.split(",")])
    print(f"`python benchmarks/free_energy_mh.py -c {args.features} --phases {args.phases} --mh {args.mh} "
          f"--repeats {args.repeats} --n {args.n} --seed {args.seed}`\n")
    print("| phase | mh_steps | " + " | ".join(f"gap at n = {v:g}" for v in n) + " | log V at the last level | s |")
    print("|---|---:|" + "---:|" * len(n) + "---|---:|")
    for lab in args.phases.split(","):
        ph = phases[lab]
        lap = laplace_free_energy([ph], n)[0]
        for mh in (int(v) for v in args.mh.split(",")):
            out = args.out / f"c{args.features}_{lab}_mh{mh}"
            out.mkdir(parents=True, exist_ok=True)
            stored = (out / f"free_energy_c{args.features}.json").is_file()
            t0 = time.perf_counter()
            measure_local_free_energies(args.features, [lab], out=out, seed=args.seed, repeats=args.repeats,
                                        mh_steps=mh, command=f"benchmarks/free_energy_mh.py mh {mh}", progress=False)
            rec = json.loads((out / f"free_energy_c{args.features}.json").read_text())["phases"][lab]
            secs = f"{rec['wall_s']:.0f} (stored)" if stored else f"{time.perf_counter() - t0:.0f}"
            m, se = volume_free_energy(rec, n, llc=effective_llc(ph, measured_llc_overrides([ph])))
            ends = ", ".join(f"{r['log_v'][-1]:.1f}" for r in rec["runs"])
            cells = " | ".join(f"{g:+.2f} ± {s:.2f}" for g, s in zip(m - lap, se))
            print(f"| {lab} | {mh} | {cells} | {ends} | {secs} |", flush=True)


if __name__ == "__main__":
    main()
