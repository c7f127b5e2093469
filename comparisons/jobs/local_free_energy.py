"""The measured-local-free-energy job: prior-volume curves ``V(eps)`` of the phases, per ``c``.

The O(1) term of a phase's local free energy ``F_n(alpha) = -log int_basin phi(w) exp(-n beta
L(w)) dw`` has a Gaussian (Laplace) value only where ``L`` is C^2 at the phase
(:mod:`comparisons.theory.laplace`). For every phase, C^2 or not, ``F_n`` follows from the prior
volume of the basin's sublevel sets, ``V(eps) = Prior{w in basin: L(w) - L* < eps}``:

``exp(-F_n) = M exp(-m L*) m int_0^inf V(eps) exp(-m eps) d eps``, ``m = n beta``

(:func:`comparisons.theory.local_free_energy.volume_free_energy`). This job measures ``V(eps)``
by subset simulation (:func:`bayes_tms.llc.volume.volume_scaling`, the LLC's second method) on the
basin of each phase with the classifier's roles (dead biases ``<= 0``, ``+`` columns shorter than
``PRESENT_NORM``), ``repeats`` independent times, plus the upper part of ``V`` (above the first
level) from an independent prior sample of the basin, and writes
``comparisons/theory/data/free_energy_c{c}.json`` (the command is in the file; a rerun reuses every
phase whose settings and seed are unchanged). The theory layer reads it with numpy only.
"""

from __future__ import annotations

__all__ = ["FREE_ENERGY_SETTINGS", "measure_local_free_energies"]

import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import write_json
from ..theory import PRESENT_NORM, child_sequence, enumerate_phases, hull_structure
from ..theory.local_free_energy import free_energy_table_path, read_free_energy_table

#: settings of the shipped tables: subset simulation as the LLC's volume method, down to eps = 1e-5
#: (below, V is extended with the phase coefficient); 3 repeats of 500 particles give the SE. 240
#: Metropolis steps per level: with 60 (the LLC's slope needs no more) the level fractions are
#: biased, and the bias compounds over the 150 to 200 levels of c = 8: the 7-gon's gap to Laplace
#: drifted from -1.8 to +9.7 nats between n = 1000 and 5000; with 240 it stays at -0.7 to -2.3,
#: with 480 at -0.9 to -1.8 (benchmarks/free_energy_mh.py, docs/beyond-c6.md)
FREE_ENERGY_SETTINGS: dict = {
    "particles": 500, "p0": 0.5, "mh_steps": 240, "eps_min": 1e-5, "repeats": 3, "upper_samples": 20_000,
    "quantiles": 400,
}


def _record(c: int, label: str, seed: int, settings: dict) -> dict:
    """``V(eps)`` of phase ``label``: ``repeats`` subset-simulation curves and the upper quantiles."""
    from bayes_tms.llc.target import tms_target
    from bayes_tms.llc.volume import volume_scaling

    p = {q.label: q for q in enumerate_phases(c)}[label]
    target = tms_target(p.W, p.b, dead_bias_max=0.0, plus_norm_max=PRESENT_NORM)

    def hull_label(v):  # whether the paper's hull rule (PT's classifier) names the phase
        W, b = target.unpack(v)
        k, sigma, phi = hull_structure(W, b)
        return (k == p.k) & (sigma == p.sigma) & (phi == p.phi)

    t0 = time.perf_counter()
    runs = []
    for j in range(int(settings["repeats"])):
        rng = np.random.default_rng(child_sequence(seed, "free-energy", c, label, "volume", j))
        v = volume_scaling(target, particles=settings["particles"], p0=settings["p0"],
                           mh_steps=settings["mh_steps"], eps_min=settings["eps_min"],
                           eps_fit=(settings["eps_min"], 1e-3), rng=rng,
                           level_stat=lambda x: float(np.mean(hull_label(x))))
        runs.append({"eps": v["eps"], "log_v": v["log_v"], "hull_fraction": v["stat"]})
    rng = np.random.default_rng(child_sequence(seed, "free-energy", c, label, "upper"))
    x, log_mass = target.sample_region(rng, int(settings["upper_samples"]))
    f = target.loss(x) - target.loss0
    order = np.argsort(f)
    f, named = f[order], hull_label(x)[order]
    probs = np.linspace(0.0, 1.0, int(settings["quantiles"]) + 1)
    cum = np.cumsum(named) / np.arange(1, len(f) + 1)  # hull fraction among the draws below each level
    at = np.minimum((probs * len(f)).astype(int), len(f) - 1)
    roles = target.info["roles"]
    counts = [roles.count(r) for r in range(4)]  # firing, off, plus, dead (bayes_tms.llc.basin)
    return {"phase": label, "c": c, "loss": p.loss, "on_wall": p.on_wall, "llc": p.llc,
            "roles": roles, "role_assignments": math.factorial(c) / math.prod(math.factorial(k) for k in counts),
            "log_region_mass": float(log_mass), "upper": {"prob": probs.tolist(),
                                                           "eps": np.quantile(f, probs).tolist(),
                                                           "hull_fraction": cum[at].tolist()},
            "runs": runs, "seed": seed, "settings": settings, "basin": {"dead_bias_max": 0.0,
                                                                         "plus_norm_max": PRESENT_NORM},
            "wall_s": time.perf_counter() - t0}


def measure_local_free_energies(c: int, labels: Sequence[str], out=None, *, seed: int = 0, command: str = "",
                                progress: bool = True, **settings) -> dict:
    """Measure ``V(eps)`` of the phases ``labels`` at ``c`` features and write the table.

    Parameters
    ----------
    c : int
        Features (2 to 8).
    labels : sequence of str
        Phase labels of ``enumerate_phases(c)``; phases of an older table not listed are kept.
    out : path-like, optional
        Folder of ``free_energy_c{c}.json`` (default: ``comparisons/theory/data``, the one the
        theory layer reads).
    seed : int
        Root seed (streams ``[seed, "free-energy", c, label, ...]``).
    command : str
        The command line of this run (appended to the table's ``commands``: the table is the union
        of the phases those commands measured).
    progress : bool
        One line per phase on stderr.
    **settings
        Override :data:`FREE_ENERGY_SETTINGS`.

    Returns
    -------
    dict
        The table as written: ``{c, seed, commands, settings, phases: {label: record}}``.
    """
    unknown = set(settings) - set(FREE_ENERGY_SETTINGS)
    if unknown:
        raise InputError(f"settings: expected keys among {', '.join(FREE_ENERGY_SETTINGS)}, got {', '.join(sorted(unknown))}")
    settings = {**FREE_ENERGY_SETTINGS, **settings}
    known = {p.label for p in enumerate_phases(c)}
    bad = [lab for lab in labels if lab not in known]
    if bad:
        raise InputError(f"phases: expected labels of c = {c} ({', '.join(sorted(known))}), got {', '.join(bad)}")
    path = free_energy_table_path(c) if out is None else Path(out) / free_energy_table_path(c).name
    try:
        old = read_free_energy_table(path)
    except (OSError, ValueError) as exc:
        print(f"warning: {path} is damaged ({exc}); measuring every phase again", file=sys.stderr)
        old = {}
    phases = dict(old.get("phases", {})) if old.get("c") == c else {}
    commands = list(old.get("commands", [old["command"]] if old.get("command") else [])) if phases else []
    if command and command not in commands:
        commands.append(command)
    table = {"c": int(c), "seed": int(seed), "commands": commands, "settings": settings, "phases": phases}
    for k, lab in enumerate(labels):
        rec = phases.get(lab)
        if rec is not None and rec.get("seed") == seed and rec.get("settings") == settings \
                and all("hull_fraction" in r for r in rec.get("runs", [{}])):  # older records lack them
            continue
        if progress:
            print(f"[{lab} ({k + 1} of {len(labels)})] measuring V(eps)", file=sys.stderr, flush=True)
        phases[lab] = _record(c, lab, seed, settings)
        write_json(path, table)
        if progress:
            print(f"[{lab}] done in {phases[lab]['wall_s']:.0f}s", file=sys.stderr, flush=True)
    write_json(path, table)
    return table
