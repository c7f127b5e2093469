"""Replica exchange (parallel tempering) over the ladder of nested sample sizes ``n``.

Rung ``r`` of the ladder targets ``p_r(w) ∝ N(w; 0, prior_sigma^2) exp(-n_r beta L_{n_r}(w))``
where ``L_n`` is the empirical loss on the first ``n`` rows of one data stream (or, with
``population=True``, the closed-form population loss). Neighbouring rungs are close in ``n`` and
so overlap, and at small ``n`` the posterior mixes between phases: exchanging states between
rungs carries phase changes up the ladder, which NUTS at a single large ``n`` cannot do.

Sampler (BlackJAX style: plain-array state, pure functions)
----------------------------------------------------------
``copies`` independent PT ensembles ("copies", the ArviZ ``chain`` dimension) of ``R`` replicas
each. One sweep (:func:`step`) is

1. an HMC move on every replica at once (one vectorised gradient call per leapfrog step for all
   copies x rungs): identity mass, per-rung step size adapted by dual averaging during warm-up
   (target acceptance ``target_accept``), each replica's step jittered by a factor ``U(0.8, 1.2)``
   and the number of leapfrog steps drawn per sweep uniformly from ``[ceil(L/2), L]``;
2. neighbour swaps on the even pairs ``(0,1), (2,3), ...`` on even sweeps and the odd pairs on odd
   sweeps (deterministic even/odd alternation: non-reversible, round trips in ``O(R)`` sweeps),
   accepted with the exact ratio ``log r = log p_a(w_b) + log p_b(w_a) - log p_a(w_a) - log p_b(w_b)``
   which for TMS is ``-beta [(n_a L_a(w_b) + n_b L_b(w_a)) - (n_a L_a(w_a) + n_b L_b(w_b))]``
   (the prior cancels; ``n_b L_b - n_a L_a`` is the block loss of rows ``n_a .. n_b``).

The core (:func:`init`, :func:`step`, :func:`run`) only sees a :class:`PTTarget`: a callable
``logdensity_and_grad(positions[..., R, d]) -> (logp[..., R], grad[..., R, d])`` evaluating rung
``r`` at ``positions[..., r, :]``. :func:`tms_target` builds the TMS one (one call of
:func:`comparisons.theory.nested_loss_grad` for every rung); toys build their own.

Output layout
-------------
:func:`sample_tms_pt` returns a :class:`PTResult` with

- ``posteriors``: ``{n: InferenceData}`` for each *requested* ``n`` (inserted rungs are left
  out; :meth:`PTResult.all_posteriors` gives every rung). ``posterior``: ``W (chain, draw, hidden,
  feature)``, ``b (chain, draw, feature)``, ``empirical_loss`` (or ``population_loss``) ``(chain,
  draw)``; ``sample_stats``: ``lp (chain, draw)`` and ``replica (chain, draw)`` (the id of the walker
  that held the draw). ``chain`` is the PT copy. ``posterior.attrs``: ``n``, ``beta``,
  ``prior_sigma``, ``seed``, ``sampler="pt"``, ``features``, ``hidden``, ``population``,
  ``ladder`` (every rung's ``n``), ``inserted`` (whether this rung was inserted).
- ``diagnostics``: one ``xarray.Dataset`` (see :func:`pt_diagnostics`) with ``swap_accept
  (pair)``, ``swap_accept_copy (copy, pair)``, ``round_trips (copy)``, ``replica_index (copy,
  draw, rung)``, ``step_size (rung)``, ``hmc_accept (rung)``, ``divergences (rung)``,
  ``requested (rung)`` and the ladder refinement record in ``attrs``.

Reproducibility and resume
--------------------------
Everything the next sweep needs, including the bit-generator state, is in :class:`PTState`;
:func:`save_state` / :func:`load_state` round-trip it exactly (``.npz`` with a JSON header), so a
run interrupted after any sweep and resumed with ``run(load_state(p), target, remaining)`` gives
bit-identical draws to an uninterrupted run; :func:`resume_tms_pt` does this for a checkpoint of
:func:`sample_tms_pt` (its configuration and ladder travel in ``state.settings["meta"]``).

What "same seed, same result" covers: the same :class:`PTConfig` (seed included) gives
bit-identical draws, log densities, replica indices, ladder and diagnostics

- in one process or another, interrupted and resumed or not;
- whatever the number of BLAS, OpenMP or numba threads (``OMP_NUM_THREADS``,
  ``OPENBLAS_NUM_THREADS``, ``NUMBA_NUM_THREADS``) and whatever BLAS numpy is linked against: with
  the default ``kernel="compiled"`` (empirical or population loss) no number of the run goes
  through BLAS. The compiled kernel (:mod:`bayes_tms.pt_kernel`) evaluates each replica in one
  sequential loop without fast-math, so its rounding depends neither on the thread that runs it
  nor on the batch; the rest is elementwise numpy arithmetic, numpy reductions over small
  trailing axes, and numpy's PCG64 streams (``tests/test_pt_kernel.py`` runs a PT job with 1 and 2
  threads and compares the bytes);
- on another machine, as far as its numpy and numba give the same IEEE results for the same
  operations (the same package versions on the same instruction set do; a different numpy may
  change its pairwise summation or its random streams, and then the draws differ while their
  distribution does not).

It does not cover ``kernel="numpy"`` (its ``W @ M`` is a BLAS call, whose rounding may depend on
the BLAS build), nor a change of kernel: the two kernels agree to about 1e-15 relative per
evaluation, and the chains, which amplify any difference, then follow other paths through the
same distribution.

Example
-------
>>> from bayes_tms.pt import PTConfig, sample_tms_pt
>>> res = sample_tms_pt(None, PTConfig(ns=(20, 40), features=4, copies=2, sweeps=20, warmup=10,
...                                    pilot_sweeps=10, pilot_warmup=10))
>>> res.posteriors[40].posterior["W"].dims
('chain', 'draw', 'hidden', 'feature')
>>> res.diagnostics["swap_accept"].dims, res.diagnostics["replica_index"].dims
(('pair',), ('copy', 'draw', 'rung'))
"""

from __future__ import annotations

__all__ = ["PTConfig", "PTTarget", "PTState", "PTInfo", "PTResult", "init", "step", "run",
           "swap_log_ratio", "save_state", "load_state", "tms_target", "refine_ladder",
           "sample_tms_pt", "resume_tms_pt", "warm_start", "to_inference_data", "pt_diagnostics", "round_trip_update",
           "KERNELS", "PT_PRESETS", "pt_preset_config"]

import json
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from comparisons.errors import InputError, check_positive_int
from comparisons.theory import (child_sequence, nested_loss_grad, nested_onehot_summary, population_loss,
                                population_loss_grad, sample_inputs)

from comparisons.theory.streams import sampler_generator

from .config import SHARED, PosteriorSpec
from .labels import label_posterior

#: gradient kernels of the ladder (see :class:`PTConfig`)
KERNELS = ("compiled", "numpy")
# dual-averaging constants (Hoffman & Gelman 2014, as in Stan)
_DA_GAMMA, _DA_T0, _DA_KAPPA = 0.05, 10.0, 0.75
_JITTER = (0.8, 1.2)
_DIVERGENCE = 1000.0  # energy error that marks a divergent trajectory (as in Stan)
_BAR_EVERY = 50  # sweeps per progress-bar update (checkpoint chunks may be far longer)


# ----------------------------------------------------------------------------------------------
# configuration

@dataclass(frozen=True)
class PTConfig(PosteriorSpec):
    """Configuration of a TMS parallel-tempering run over a ladder of nested ``n``.

    The shared fields (``features, hidden, ns, seed, beta, prior_sigma, classifier, bootstrap``)
    are those of :class:`bayes_tms.config.PosteriorSpec`, checked by its one validator: ``ns`` are
    the requested sample sizes (rungs may be inserted between them); pilot and main run use the
    streams ``("bayes", "pt", "pilot" | "main")`` of the seed tree.

    Attributes
    ----------
    copies : int
        Independent PT ensembles (the ArviZ ``chain`` dimension), ``>= 1``.
    sweeps : int
        Sweeps kept after warm-up (before thinning), ``>= 1``.
    warmup : int
        Warm-up sweeps (step-size adaptation; draws discarded, counters reset at the end).
    leapfrog : int
        Largest number of leapfrog steps per HMC move (drawn in ``[ceil(L/2), L]``).
    thin : int
        Keep every ``thin``-th sweep.
    target_accept : float
        HMC acceptance targeted by the step-size adaptation, in ``(0, 1)``.
    min_swap_accept : float
        Ladder refinement inserts rungs until every neighbour pair accepts at least this, in
        ``[0, 1)`` (``0`` disables refinement).
    max_rungs : int
        Cap on the number of rungs after refinement.
    pilot_sweeps, pilot_warmup : int
        Length of each refinement pilot run.
    population : bool
        Use the closed-form population loss instead of the empirical loss.
    kernel : {"compiled", "numpy"}
        Gradient of the ladder: the compiled kernel (:mod:`bayes_tms.pt_kernel`, default) or the
        numpy reference (:func:`comparisons.theory.nested_loss_grad`, or for the population loss
        :func:`comparisons.theory.population_loss_grad`). Both are exact; they round
        differently, so the draws differ (not their distribution).
    """

    copies: int = field(default=8, metadata={
        "help": "independent PT ensembles, the chains of R-hat and of the intervals", "metavar": "K"})
    sweeps: int = field(default=1000, metadata={"help": "kept sweeps (before thinning)", "metavar": "S"})
    warmup: int = field(default=300, metadata=SHARED["warmup"])
    leapfrog: int = field(default=10, metadata={"help": "largest leapfrog steps per HMC move", "metavar": "L"})
    thin: int = field(default=1, metadata={"help": "keep every T-th sweep", "metavar": "T"})
    target_accept: float = field(default=0.75, metadata={
        "help": "HMC acceptance targeted by the step-size adaptation", "metavar": "A"})
    min_swap_accept: float = 0.2
    max_rungs: int = 64
    pilot_sweeps: int = 150
    pilot_warmup: int = 150
    population: bool = field(default=False, metadata={
        "help": "sample exp(-n beta L) with the closed-form population loss (no data noise)"})
    kernel: str = "compiled"

    def __post_init__(self) -> None:
        from .config import MIN_KEPT_DRAWS

        ns = self.ns
        if isinstance(ns, np.ndarray) and ns.ndim == 1 or isinstance(ns, list):
            object.__setattr__(self, "ns", tuple(check_positive_int("ns", n) for n in ns))
        population = isinstance(self.population, (bool, np.bool_)) and bool(self.population)  # typed below
        self.check_posterior(minimum_n=1 if population else None, name="ns")
        check_positive_int("copies", self.copies)
        check_positive_int("sweeps", self.sweeps)
        check_positive_int("warmup", self.warmup, minimum=0)
        check_positive_int("leapfrog", self.leapfrog)
        check_positive_int("thin", self.thin)
        if self.sweeps // self.thin < MIN_KEPT_DRAWS:
            raise InputError(f"sweeps: expected at least {MIN_KEPT_DRAWS} kept draws per copy for the occupancy "
                             f"intervals (sweeps / thin >= {MIN_KEPT_DRAWS}), got {self.sweeps} sweeps / thin "
                             f"{self.thin} = {self.sweeps // self.thin}")
        check_positive_int("max_rungs", self.max_rungs, minimum=len(self.ns))
        check_positive_int("pilot_sweeps", self.pilot_sweeps)
        check_positive_int("pilot_warmup", self.pilot_warmup, minimum=0)
        if self.kernel not in KERNELS:
            raise InputError(f"kernel: expected one of {', '.join(KERNELS)}, got {self.kernel!r}")
        if not 0 < self.target_accept < 1:
            raise InputError(f"target_accept: expected a number in (0, 1), got {self.target_accept!r}")
        if not 0 <= self.min_swap_accept < 1:
            raise InputError(f"min_swap_accept: expected a number in [0, 1), got {self.min_swap_accept!r}")

    def draws_key(self) -> str:
        """JSON of the fields that determine the labelled draws (``bootstrap`` left out: it only
        summarises them): equal keys, equal stored draws."""
        d = self.to_dict()
        d.pop("bootstrap")
        return json.dumps(d, sort_keys=True)


#: preset -> PTConfig fields. The ladders are the NUTS presets' (bayes_tms.config.PRESETS), so that
#: both estimators report the same n; the paper ladder starts lower (16, 32, 64), where the
#: posterior mixes freely. Paper: about 50 round trips per copy at c = 6.
#: preset -> features -> PTConfig fields. The ladders are the NUTS presets' (:data:`bayes_tms.config.PRESETS`),
#: so that both estimators report the same n; the paper ladder starts lower (16, 32, 64), where the
#: posterior mixes freely, and the refinement (``min_swap_accept``) inserts rungs until every
#: neighbour pair swaps. Paper: about 50 round trips per copy at c = 6. At c = 7 and 8 the ladder
#: is longer (to 20000 and 10000) and the high-n phases (6, 7, 6++, 7+ at c = 8) trade places
#: slowly. On the c = 8 population loss 12000 sweeps on a 17-rung ladder from 16 to 8000 gave 4.75
#: round trips per copy (1 to 11), the walkers' flux falling between n = 1200 and 5000; with rungs
#: added there (24 requested, 26 after refinement, every pair swapping 0.29 or more) 48000 sweeps
#: gave 36.5 per copy, the least copy 29: about 0.76 per 1000 sweeps
#: (docs/results/pt-population.md). The c = 8 paper preset sweeps 32000 (about 24 round trips per
#: copy at that rate) on its ladder, rungs 1130 to 4830 at log spacing 0.24, within the two hours
#: of the paper study by comparisons.cost; c = 7, unmeasured, sweeps 24000.
PT_PRESETS: dict[str, dict[int, dict]] = {
    "quick": {c: dict(copies=8, sweeps=1000, warmup=300, thin=2) for c in (4, 5, 6)}
    | {7: dict(copies=8, sweeps=2000, warmup=300, thin=4), 8: dict(copies=8, sweeps=2000, warmup=300, thin=4)},
    "paper": {c: dict(copies=8, sweeps=6000, warmup=300, thin=4, extra_ns=(16, 32, 64)) for c in (4, 5, 6)}
    | {7: dict(copies=8, sweeps=24000, warmup=500, thin=12, extra_ns=(16, 32, 64)),
       8: dict(copies=8, sweeps=32000, warmup=1000, thin=16, extra_ns=(16, 32, 64))},
}


def pt_preset_config(name: str, features: int = 6, **overrides) -> PTConfig:
    """The :class:`PTConfig` of preset ``name`` (:data:`PT_PRESETS`) for ``features`` features, with
    ``overrides`` (None values: not given) on top.

    The ladder is the NUTS preset's (:data:`bayes_tms.config.PRESETS`) with the preset's
    ``extra_ns`` added, so that both estimators report the same ``n``.
    """
    from comparisons.errors import check_field_names, shown

    from .config import PRESETS

    if not isinstance(name, str) or name not in PT_PRESETS:
        raise InputError(f"preset: expected one of {', '.join(PT_PRESETS)}, got {shown(name)}")
    covered = sorted(set(PRESETS.get(name, {})) & set(PT_PRESETS[name]))
    if isinstance(features, bool) or features not in covered:
        raise InputError(f"features: preset {name!r} covers c in {covered[0]}..{covered[-1]}, got {shown(features)}")
    check_field_names(PTConfig, overrides, f"pt_preset_config({name!r})")
    values = dict(PT_PRESETS[name][features])
    extra = values.pop("extra_ns", ())
    values["ns"] = tuple(sorted(set(extra) | set(PRESETS[name][features]["ns"])))
    values.update({k: v for k, v in overrides.items() if v is not None})
    return PTConfig(features=features, **values)


# ----------------------------------------------------------------------------------------------
# target, state

class PTTarget(NamedTuple):
    """A ladder of log densities evaluated all at once.

    Attributes
    ----------
    ns : ndarray of int, shape (R,)
        The rung labels (sample sizes), increasing.
    dim : int
        ``d``, the dimension of a position.
    logdensity_and_grad : callable
        ``positions[..., R, d] -> (logp[..., R], grad[..., R, d])``: rung ``r``'s unnormalised log
        density and its gradient at ``positions[..., r, :]``.
    split : callable
        ``positions[..., d] -> {name: array[..., *shape]}`` (named parameters for the output).
    dims : dict
        ``name -> tuple of dim names`` of the trailing axes of each split parameter.
    sample_prior : callable
        ``(rng, shape) -> positions[*shape, d]``: draws used to initialise the replicas.
    step_size_hint : ndarray, shape (R,)
        Initial leapfrog step size per rung.
    integrate : callable, optional
        ``(q0, p0, g0, eps (C, R), n_steps) -> (q, p, logp, grad)``: the whole leapfrog trajectory in
        one call (e.g. compiled), doing exactly what the HMC move's own loop over
        ``logdensity_and_grad`` does; ``None`` (default): that loop.
    """

    ns: np.ndarray
    dim: int
    logdensity_and_grad: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    split: Callable[[np.ndarray], dict]
    dims: dict
    sample_prior: Callable[[np.random.Generator, tuple], np.ndarray]
    step_size_hint: np.ndarray
    integrate: Callable | None = None


class PTState(NamedTuple):
    """Everything a PT run needs to continue (plain arrays and JSON-able values).

    ``C`` copies, ``R`` rungs, ``d`` dimensions, ``K`` kept draws so far.

    Attributes
    ----------
    positions : (C, R, d)
        ``positions[c, r]`` is the state currently at rung ``r`` of copy ``c``.
    logdensity : (C, R)
        ``log p_r(positions[c, r])``.
    grad : (C, R, d)
    replica : (C, R) int
        Id of the walker currently at rung ``r`` (a permutation of ``0..R-1`` per copy).
    direction : (C, R) int
        Per walker id: ``+1`` last end visited was the bottom rung, ``-1`` the top, ``0`` neither.
    round_trips : (C,) int
        Completed bottom -> top -> bottom trips (summed over the walkers of a copy) after warm-up.
    swap_attempts, swap_accepts : (C, R-1) int
        Per neighbour pair ``(r, r+1)``, after warm-up.
    hmc_accept_sum : (C, R) float
        Sum of HMC acceptance probabilities after warm-up.
    divergences : (C, R) int
        HMC trajectories after warm-up whose energy error exceeded 1000 or was not finite.
    step_size : (R,)
        Current (after warm-up: final) base leapfrog step size per rung.
    da : (4, R)
        Dual-averaging state ``(log_eps, log_eps_bar, h_bar, mu)``.
    sweep : int
        Sweeps done, warm-up included.
    ns : (R,) int
    requested : (R,) bool
        Whether rung ``r`` was requested (not inserted by refinement).
    draws, draw_logdensity, draw_replica : (C, K, R, d), (C, K, R), (C, K, R)
        Kept sweeps: positions, log densities and replica ids.
    rng_state : dict
        ``bit_generator.state`` of the sampler's generator (with its class name).
    settings : dict
        ``warmup``, ``leapfrog``, ``thin``, ``target_accept`` and free-form metadata.
    """

    positions: np.ndarray
    logdensity: np.ndarray
    grad: np.ndarray
    replica: np.ndarray
    direction: np.ndarray
    round_trips: np.ndarray
    swap_attempts: np.ndarray
    swap_accepts: np.ndarray
    hmc_accept_sum: np.ndarray
    divergences: np.ndarray
    step_size: np.ndarray
    da: np.ndarray
    sweep: int
    ns: np.ndarray
    requested: np.ndarray
    draws: np.ndarray
    draw_logdensity: np.ndarray
    draw_replica: np.ndarray
    rng_state: dict
    settings: dict

    @property
    def kept_sweeps(self) -> int:
        """Sweeps done after warm-up."""
        return max(0, self.sweep - int(self.settings["warmup"]))

    def save(self, path) -> None:
        """Alias of :func:`save_state`."""
        save_state(self, path)


class PTInfo(NamedTuple):
    """What one sweep did: HMC acceptance probabilities ``(C, R)``, swap pairs and decisions."""

    hmc_accept: np.ndarray
    pairs: np.ndarray
    swap_log_ratio: np.ndarray
    swap_accepted: np.ndarray
    kept: bool


def _rng_from_state(rng_state: dict) -> np.random.Generator:
    bitgen = getattr(np.random, rng_state["bit_generator"])()
    bitgen.state = rng_state
    return np.random.Generator(bitgen)


def init(target: PTTarget, copies: int, seed, *, positions: np.ndarray | None = None,
         step_size: np.ndarray | None = None, warmup: int = 300, leapfrog: int = 10, thin: int = 1,
         target_accept: float = 0.75, requested: np.ndarray | None = None,
         metadata: dict | None = None) -> PTState:
    """Initial PT state: every replica drawn from ``target.sample_prior`` (or given ``positions``).

    Parameters
    ----------
    target : PTTarget
    copies : int
        ``C``, independent PT ensembles.
    seed : int, numpy.random.SeedSequence or numpy.random.Generator
        Source of all randomness of the run (a Generator is not advanced: a child is spawned).
    positions : ndarray, shape (C, R, d), optional
        Starting positions (default: independent prior draws).
    step_size : ndarray, shape (R,), optional
        Initial step sizes (default ``target.step_size_hint``).
    warmup, leapfrog, thin, target_accept
        See :class:`PTConfig`.
    requested : ndarray of bool, shape (R,), optional
        Rungs the user asked for (default: all).
    metadata : dict, optional
        JSON-able values stored in ``settings["meta"]``.

    Returns
    -------
    PTState
    """
    copies = check_positive_int("copies", copies)
    R, d = len(target.ns), target.dim
    rng = sampler_generator(seed)
    if positions is None:
        positions = target.sample_prior(rng, (copies, R))
    positions = np.array(positions, dtype=float)
    if positions.shape != (copies, R, d):
        raise InputError(f"positions: expected shape {(copies, R, d)}, got {positions.shape}")
    lp, g = target.logdensity_and_grad(positions)
    eps = np.broadcast_to(np.asarray(target.step_size_hint if step_size is None else step_size,
                                     dtype=float), (R,)).copy()
    da = np.stack([np.log(eps), np.zeros(R), np.zeros(R), np.log(10 * eps)])
    return PTState(
        positions=positions, logdensity=lp, grad=g,
        replica=np.tile(np.arange(R), (copies, 1)),
        direction=np.zeros((copies, R), dtype=np.int64),
        round_trips=np.zeros(copies, dtype=np.int64),
        swap_attempts=np.zeros((copies, max(R - 1, 0)), dtype=np.int64),
        swap_accepts=np.zeros((copies, max(R - 1, 0)), dtype=np.int64),
        hmc_accept_sum=np.zeros((copies, R)),
        divergences=np.zeros((copies, R), dtype=np.int64),
        step_size=eps, da=da, sweep=0,
        ns=np.asarray(target.ns, dtype=np.int64),
        requested=np.ones(R, dtype=bool) if requested is None else np.asarray(requested, dtype=bool),
        draws=np.zeros((copies, 0, R, d)), draw_logdensity=np.zeros((copies, 0, R)),
        draw_replica=np.zeros((copies, 0, R), dtype=np.int64),
        rng_state=_rng_state(rng),
        settings={"warmup": int(warmup), "leapfrog": check_positive_int("leapfrog", leapfrog),
                  "thin": check_positive_int("thin", thin), "target_accept": float(target_accept),
                  "meta": dict(metadata or {})},
    )


def _rng_state(rng: np.random.Generator) -> dict:
    return json.loads(json.dumps(rng.bit_generator.state))  # plain JSON types (ints may be big)


# ----------------------------------------------------------------------------------------------
# one sweep

def _hmc(state: PTState, target: PTTarget, rng: np.random.Generator):
    """One vectorised HMC move on every replica; returns (q, lp, g, accept_prob, divergent)."""
    q0, lp0, g0 = state.positions, state.logdensity, state.grad
    L_max = int(state.settings["leapfrog"])
    n_steps = int(rng.integers(math.ceil(L_max / 2), L_max + 1))
    eps = state.step_size[None, :, None] * rng.uniform(*_JITTER, size=q0.shape[:2])[..., None]
    p0 = rng.standard_normal(q0.shape)
    log_u = np.log(rng.random(q0.shape[:2]))
    q = q0
    # divergent trajectories (early warm-up) may overflow: they are rejected below
    with np.errstate(invalid="ignore", over="ignore"):
        if target.integrate is not None:
            q, p, lp, g = target.integrate(q0, p0, g0, eps[..., 0], n_steps)
        else:
            p = p0 + 0.5 * eps * g0
            for k in range(n_steps):
                q = q + eps * p
                lp, g = target.logdensity_and_grad(q)
                p = p + (eps if k < n_steps - 1 else 0.5 * eps) * g
        log_alpha = (lp - 0.5 * (p * p).sum(-1)) - (lp0 - 0.5 * (p0 * p0).sum(-1))
    log_alpha = np.where(np.isnan(log_alpha), -np.inf, log_alpha)
    divergent = log_alpha < -_DIVERGENCE
    accept = log_u < log_alpha
    prob = np.exp(np.minimum(log_alpha, 0.0))
    q = np.where(accept[..., None], q, q0)
    lp = np.where(accept, lp, lp0)
    g = np.where(accept[..., None], g, g0)
    return q, lp, g, prob, divergent


def _pairs(R: int, parity: int) -> np.ndarray:
    """Lower rungs of the neighbour pairs ``(r, r+1)`` with ``r % 2 == parity``."""
    return np.arange(parity, R - 1, 2)


def _swapped(positions: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """``positions (C, R, ...)`` with rungs ``r`` and ``r + 1`` exchanged for every ``r`` in ``pairs``
    (of :func:`_pairs`: every other rung, so both sides are strided slices, not fancy indexing)."""
    qs = positions.copy()
    if pairs.size:
        lo = slice(int(pairs[0]), int(pairs[-1]) + 1, 2)
        hi = slice(int(pairs[0]) + 1, int(pairs[-1]) + 2, 2)
        qs[:, lo] = positions[:, hi]
        qs[:, hi] = positions[:, lo]
    return qs


def swap_log_ratio(target: PTTarget, positions: np.ndarray, parity: int,
                   logdensity: np.ndarray | None = None):
    """Log acceptance ratio of exchanging neighbours ``(r, r+1)`` for every ``r % 2 == parity``.

    Parameters
    ----------
    target : PTTarget
    positions : ndarray, shape (C, R, d)
    parity : {0, 1}
    logdensity : ndarray, shape (C, R), optional
        ``log p_r(positions[:, r])`` when already known.

    Returns
    -------
    pairs : ndarray of int, shape (P,)
        Lower rung of each pair.
    log_ratio : ndarray, shape (C, P)
        ``log p_a(w_b) + log p_b(w_a) - log p_a(w_a) - log p_b(w_b)`` with ``a = r``, ``b = r+1``.
    swapped : tuple
        ``(logp, grad)`` of the target at the exchanged positions (every rung).
    """
    return _swap_proposal(target, positions, parity, logdensity)[:3]


def _swap_proposal(target: PTTarget, positions: np.ndarray, parity: int, logdensity: np.ndarray | None = None):
    """:func:`swap_log_ratio` and the exchanged positions it evaluated (a sweep moves to them)."""
    R = positions.shape[1]
    pairs = _pairs(R, parity)
    if logdensity is None:
        logdensity = target.logdensity_and_grad(positions)[0]
    swapped = _swapped(positions, pairs)
    lps, gs = target.logdensity_and_grad(swapped)
    log_ratio = (lps[:, pairs] + lps[:, pairs + 1]) - (logdensity[:, pairs] + logdensity[:, pairs + 1])
    return pairs, log_ratio, (lps, gs), swapped


def round_trip_update(replica: np.ndarray, direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Update the walkers' directions after a swap; returns ``(direction, completed (C,))``.

    A walker at the bottom rung is labelled ``+1``; at the top rung a ``+1`` becomes ``-1``; a
    ``-1`` walker reaching the bottom completes a round trip.
    """
    C, R = replica.shape
    rows = np.arange(C)
    direction = direction.copy()
    bottom, top = replica[:, 0], replica[:, -1]
    completed = direction[rows, bottom] == -1
    direction[rows, bottom] = 1
    if R > 1:
        direction[rows, top] = np.where(direction[rows, top] == 1, -1, direction[rows, top])
    return direction, completed.astype(np.int64)


def _dual_average(da: np.ndarray, accept: np.ndarray, t: int, target_accept: float) -> np.ndarray:
    log_eps, log_eps_bar, h_bar, mu = da
    w = 1.0 / (t + _DA_T0)
    h_bar = (1 - w) * h_bar + w * (target_accept - accept)
    log_eps = mu - math.sqrt(t) / _DA_GAMMA * h_bar
    eta = t ** (-_DA_KAPPA)
    log_eps_bar = eta * log_eps + (1 - eta) * log_eps_bar
    return np.stack([log_eps, log_eps_bar, h_bar, mu])


def step(state: PTState, target: PTTarget) -> tuple[PTState, PTInfo]:
    """One sweep: HMC on every replica, then the even or odd neighbour swaps.

    Returns the new state (draws are recorded by :func:`run`, not here) and a :class:`PTInfo`.
    """
    rng = _rng_from_state(state.rng_state)
    new, info = _step(state, target, rng)
    return new._replace(rng_state=_rng_state(rng)), info


def _step(state: PTState, target: PTTarget, rng: np.random.Generator) -> tuple[PTState, PTInfo]:
    """:func:`step` drawing from the live generator ``rng`` (advanced in place); the returned state's
    ``rng_state`` is left stale, for the caller to set once (:func:`run` does, after each chunk)."""
    C, R, _ = state.positions.shape
    warmup = int(state.settings["warmup"])
    in_warmup = state.sweep < warmup
    q, lp, g, prob, divergent = _hmc(state, target, rng)
    step_size, da = state.step_size, state.da
    if in_warmup:
        da = _dual_average(da, prob.mean(axis=0), state.sweep + 1, float(state.settings["target_accept"]))
        step_size = np.exp(da[1] if state.sweep + 1 == warmup else da[0])
    replica, direction = state.replica, state.direction
    pairs = np.zeros(0, dtype=np.int64)
    log_ratio = np.zeros((C, 0))
    accepted = np.zeros((C, 0), dtype=bool)
    if R > 1:
        pairs, log_ratio, (lps, gs), swapped = _swap_proposal(target, q, state.sweep % 2, lp)
        accepted = np.log(rng.random(log_ratio.shape)) < log_ratio  # NaN never accepts
        move = np.zeros((C, R), dtype=bool)
        move[:, pairs] = accepted
        move[:, pairs + 1] = accepted
        q = np.where(move[..., None], swapped, q)
        lp = np.where(move, lps, lp)
        g = np.where(move[..., None], gs, g)
        replica = np.where(move, _swapped(replica, pairs), replica)
        direction, completed = round_trip_update(replica, direction)
    else:
        completed = np.zeros(C, dtype=np.int64)
    sweep = state.sweep + 1
    counting = not in_warmup
    swap_attempts, swap_accepts = state.swap_attempts, state.swap_accepts
    round_trips, hmc_sum, divergences = state.round_trips, state.hmc_accept_sum, state.divergences
    if counting:
        swap_attempts = swap_attempts.copy()
        swap_accepts = swap_accepts.copy()
        swap_attempts[:, pairs] += 1
        swap_accepts[:, pairs] += accepted
        round_trips = round_trips + completed
        hmc_sum = hmc_sum + prob
        divergences = divergences + divergent
    thin = int(state.settings["thin"])
    kept = counting and (state.sweep - warmup) % thin == 0
    new = state._replace(positions=q, logdensity=lp, grad=g, replica=replica, direction=direction,
                         round_trips=round_trips, swap_attempts=swap_attempts, swap_accepts=swap_accepts,
                         hmc_accept_sum=hmc_sum, divergences=divergences, step_size=step_size, da=da, sweep=sweep)
    return new, PTInfo(hmc_accept=prob, pairs=pairs, swap_log_ratio=log_ratio,
                       swap_accepted=accepted, kept=kept)


def _append(state: PTState, buf: list) -> PTState:
    if not buf:
        return state
    qs, lps, reps = zip(*buf)
    return state._replace(
        draws=np.concatenate([state.draws, np.stack(qs, axis=1)], axis=1),
        draw_logdensity=np.concatenate([state.draw_logdensity, np.stack(lps, axis=1)], axis=1),
        draw_replica=np.concatenate([state.draw_replica, np.stack(reps, axis=1)], axis=1))


def run(state: PTState, target: PTTarget, sweeps: int, *, chunk: int = 100,
        callback: Callable[[PTState], Any] | None = None, progress: bool = False) -> PTState:
    """Run ``sweeps`` more sweeps (warm-up first, if unfinished), recording the kept ones.

    Parameters
    ----------
    state : PTState
    target : PTTarget
        Must have the state's ladder.
    sweeps : int
        Additional sweeps (``>= 0``).
    chunk : int
        ``callback(state)`` is called after every ``chunk`` sweeps and at the end.
    callback : callable, optional
        E.g. ``lambda s: save_state(s, path)``; an exception it raises stops the run.
    progress : bool
        Show a tqdm progress bar.

    Returns
    -------
    PTState

    Notes
    -----
    If anything raises (the callback, ``KeyboardInterrupt``), the state after the last finished
    sweep, draws included, is attached to the exception as ``exc.pt_state`` before re-raising.
    """
    sweeps = check_positive_int("sweeps", sweeps, minimum=0)
    chunk = check_positive_int("chunk", chunk)
    if not np.array_equal(np.asarray(target.ns), state.ns):
        raise InputError(f"target: expected the state's ladder {state.ns.tolist()}, "
                         f"got {np.asarray(target.ns).tolist()}")
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm
            bar = tqdm(total=sweeps, desc="PT sweeps", leave=False)
        except ImportError:  # progress bar is optional
            bar = None
    buf: list = []
    done = 0
    # one live generator for the whole run: the same stream as step()'s state round trip, without
    # serialising the bit generator every sweep; the state carries its position after each sweep
    # that a caller can see (chunk ends, the end, an exception)
    rng = _rng_from_state(state.rng_state)
    last = state.rng_state  # the generator's position after the last finished sweep
    try:
        while done < sweeps:
            todo = min(chunk, sweeps - done)
            for k in range(todo):
                state, info = _step(state, target, rng)
                last = rng.bit_generator.state
                if info.kept:
                    buf.append((state.positions, state.logdensity, state.replica))
                done += 1
                if bar is not None and (k + 1) % _BAR_EVERY == 0:
                    bar.update(_BAR_EVERY)
            state = _append(state, buf)._replace(rng_state=_rng_state(rng))
            buf = []
            if bar is not None:
                bar.update(todo % _BAR_EVERY)
            if callback is not None:
                callback(state)
    except BaseException as exc:
        state = _append(state, buf)._replace(rng_state=json.loads(json.dumps(last)))
        try:
            exc.pt_state = state
        except AttributeError:  # some built-in exceptions reject attributes
            pass
        raise
    finally:
        if bar is not None:
            bar.close()
    return state


# ----------------------------------------------------------------------------------------------
# serialisation

_ARRAYS = ("positions", "logdensity", "grad", "replica", "direction", "round_trips", "swap_attempts",
           "swap_accepts", "hmc_accept_sum", "divergences", "step_size", "da", "ns", "requested", "draws",
           "draw_logdensity", "draw_replica")


def save_state(state: PTState, path) -> None:
    """Write ``state`` to ``path`` (``.npz``: the arrays plus a JSON header with the rest)."""
    header = json.dumps({"sweep": int(state.sweep), "rng_state": state.rng_state,
                         "settings": state.settings, "format": "bayes_tms.pt/1"})
    with open(path, "wb") as fh:
        np.savez(fh, header=np.asarray(header), **{k: getattr(state, k) for k in _ARRAYS})


def load_state(path) -> PTState:
    """Read a state written by :func:`save_state`."""
    with np.load(path, allow_pickle=False) as f:
        header = json.loads(str(f["header"]))
        if header.get("format") != "bayes_tms.pt/1":
            raise InputError(f"{path}: expected a bayes_tms.pt/1 state file, got format {header.get('format')!r}")
        arrays = {k: f[k] for k in _ARRAYS}
    return PTState(sweep=int(header["sweep"]), rng_state=header["rng_state"],
                   settings=header["settings"], **arrays)


# ----------------------------------------------------------------------------------------------
# the TMS target

def tms_target(ns, *, x: np.ndarray | None = None, features: int, hidden: int = 2,
               beta: float = 1.0, prior_sigma: float = 1.0, population: bool = False,
               kernel: str = "compiled") -> PTTarget:
    """The TMS posterior ladder ``log p_r = log N(w; 0, prior_sigma^2) - n_r beta L_{n_r}(w)``.

    Parameters
    ----------
    ns : sequence of int, length R
        Rung sample sizes (increasing).
    x : ndarray, shape (N_max, c), optional
        One-hot data stream; rung ``n`` uses ``x[:n]`` (required unless ``population``).
    features, hidden : int
        ``c`` and ``r``.
    beta, prior_sigma : float
    population : bool
        Use the population loss ``L`` (closed form) instead of ``L_n``.
    kernel : {"compiled", "numpy"}
        One call of the compiled kernel (:func:`bayes_tms.pt_kernel.tms_density_kernel`, prior
        and ``n beta`` fused in) or of the numpy reference (:func:`comparisons.theory.nested_loss_grad`,
        or :func:`comparisons.theory.population_loss` and ``population_loss_grad``) per evaluation
        of the ladder.

    Returns
    -------
    PTTarget
        Positions are ``[W.ravel(), b]`` (``d = r c + c``); ``split`` gives ``W (..., r, c)``
        and ``b (..., c)``. The log density omits the normalising constant.
    """
    ns_arr = np.asarray(ns, dtype=np.int64)
    c, r = int(features), int(hidden)
    rc = r * c
    nbeta = ns_arr.astype(float) * float(beta)
    inv_var = 1.0 / float(prior_sigma) ** 2
    if population:
        def loss_grad(W, b):
            gW, gb = population_loss_grad(W, b)
            return population_loss(W, b), gW, gb
    else:
        if x is None:
            raise InputError("x: expected the data stream for an empirical-loss ladder, got None")
        if x.shape[1] != c:
            raise InputError(f"x: expected {c} features, got shape {x.shape}")
        nested = nested_onehot_summary(x, ns_arr)

        def loss_grad(W, b):
            return nested_loss_grad(W, b, nested)

    if kernel not in KERNELS:
        raise InputError(f"kernel: expected one of {', '.join(KERNELS)}, got {kernel!r}")
    compiled = integrate = None
    if kernel == "compiled":
        from .pt_kernel import tms_density_kernel, tms_leapfrog_kernel

        ladder = None if population else nested  # None: the kernel's closed-form population loss
        compiled = tms_density_kernel(ladder, r, nbeta, inv_var, features=c)
        integrate = tms_leapfrog_kernel(ladder, r, nbeta, inv_var, features=c)

    def logdensity_and_grad(q: np.ndarray):
        if compiled is not None:
            return compiled(q)
        # a diverging leapfrog trajectory can leave the floats: such a state has density 0 (and
        # is rejected), but the loss functions refuse non-finite input, so evaluate it at 0
        bad = ~np.isfinite(q).all(-1)
        if bad.any():
            logp, g = logdensity_and_grad(np.where(bad[..., None], 0.0, q))
            return np.where(bad, -np.inf, logp), np.where(bad[..., None], 0.0, g)
        W = q[..., :rc].reshape(q.shape[:-1] + (r, c))
        b = q[..., rc:]
        L, gW, gb = loss_grad(W, b)
        logp = -0.5 * inv_var * (q * q).sum(-1) - nbeta * L
        g = -inv_var * q - nbeta[:, None] * np.concatenate([gW.reshape(q.shape[:-1] + (rc,)), gb], -1)
        return logp, g

    def split(q: np.ndarray) -> dict:
        return {"W": q[..., :rc].reshape(q.shape[:-1] + (r, c)), "b": q[..., rc:]}

    def sample_prior(rng: np.random.Generator, shape: tuple) -> np.ndarray:
        return rng.normal(0.0, prior_sigma, size=tuple(shape) + (rc + c,))

    # stiffest curvature ~ n beta (the loss Hessian is O(1/c) per entry): start near its inverse sqrt
    hint = 1.0 / np.sqrt(inv_var + nbeta / c)
    return PTTarget(ns=ns_arr, dim=rc + c, logdensity_and_grad=logdensity_and_grad, split=split,
                    dims={"W": ("hidden", "feature"), "b": ("feature",)}, sample_prior=sample_prior,
                    step_size_hint=0.5 * hint, integrate=integrate)


# ----------------------------------------------------------------------------------------------
# ladder refinement

def _swap_accept(state: PTState) -> np.ndarray:
    """Pooled swap acceptance per pair (NaN where never attempted)."""
    att = state.swap_attempts.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(att > 0, state.swap_accepts.sum(axis=0) / np.maximum(att, 1), np.nan)


def refine_ladder(make_target: Callable[[np.ndarray], PTTarget], ns, *, copies: int, seed,
                  min_swap_accept: float = 0.2, max_rungs: int = 64, pilot_sweeps: int = 150,
                  pilot_warmup: int = 150, leapfrog: int = 10, target_accept: float = 0.75,
                  progress: bool = False):
    """Insert geometric-mean rungs until every neighbour pair swaps with rate >= ``min_swap_accept``.

    Each round runs a short pilot PT on the current ladder (starting from the previous pilot's
    final positions; an inserted rung starts from its lower neighbour's positions), measures the
    pooled swap acceptance per pair, and inserts ``round(sqrt(n_a n_b))`` into every pair below
    the threshold (most-rejecting pairs first when ``max_rungs`` would be exceeded).

    Parameters
    ----------
    make_target : callable
        ``ns -> PTTarget``.
    ns : sequence of int
        Starting (requested) ladder, increasing.
    copies, seed, leapfrog, target_accept
        As in :func:`init`.
    min_swap_accept, max_rungs, pilot_sweeps, pilot_warmup
        See :class:`PTConfig`.

    Returns
    -------
    ns : ndarray of int
        Refined ladder.
    state : PTState
        Last pilot state (on the refined ladder when converged, else on the last ladder tried).
    record : dict
        ``rounds`` (list of ``{"ns": [...], "swap_accept": [...]}``), ``converged`` (bool).
    """
    ns = np.asarray(ns, dtype=np.int64)
    rng = sampler_generator(seed)
    rounds: list[dict] = []
    positions = step_size = None
    while True:
        target = make_target(ns)
        state = init(target, copies, rng, positions=positions, step_size=step_size,
                     warmup=pilot_warmup, leapfrog=leapfrog, target_accept=target_accept)
        state = run(state, target, pilot_warmup + pilot_sweeps, progress=progress)
        acc = _swap_accept(state)
        rounds.append({"ns": ns.tolist(), "swap_accept": [float(a) for a in acc]})
        bad = np.flatnonzero(~(acc >= min_swap_accept))  # NaN counts as bad
        splittable = bad[ns[bad + 1] - ns[bad] >= 2]
        room = max_rungs - len(ns)
        if len(bad) == 0:
            return ns, state, {"rounds": rounds, "converged": True}
        if len(splittable) == 0 or room <= 0:
            warnings.warn(f"PT ladder: {len(bad)} neighbour pair(s) still swap below "
                          f"{min_swap_accept} with {len(ns)} rungs (max_rungs={max_rungs}); "
                          "continuing with this ladder", RuntimeWarning, stacklevel=2)
            return ns, state, {"rounds": rounds, "converged": False}
        splittable = splittable[np.argsort(acc[splittable], kind="stable")][:room]
        new = np.round(np.sqrt(ns[splittable] * ns[splittable + 1].astype(float))).astype(np.int64)
        new = np.clip(new, ns[splittable] + 1, ns[splittable + 1] - 1)
        # positions of the next pilot: existing rungs keep theirs, inserted ones copy the lower rung
        ns_next = np.sort(np.concatenate([ns, new]))
        src = _lower_rung(ns, ns_next)
        positions = state.positions[:, src]
        step_size = state.step_size[src]
        ns = ns_next


def _lower_rung(ns: np.ndarray, ns_to) -> np.ndarray:
    """Index into the ladder ``ns`` of the nearest rung at or below each of ``ns_to`` (the lowest
    rung for those below the ladder)."""
    return np.maximum(np.searchsorted(ns, np.asarray(ns_to), side="right") - 1, 0)


def warm_start(state: PTState, ns) -> tuple[np.ndarray, np.ndarray]:
    """Starting positions and step sizes on the ladder ``ns`` from the final ``state`` of a run on
    the same data (switch refinement: :func:`comparisons.jobs.bayes_pt.refine_pt`).

    Each copy's replica at rung ``n`` starts at that copy's final position at the nearest rung of
    ``state`` at or below ``n`` (its lowest rung below the ladder): a draw of a neighbouring
    posterior, in the phase mix the walkers reached there. The step sizes are the run's adapted
    ones, interpolated linearly in ``(log n, log step)`` (constant beyond its ends).

    Returns
    -------
    positions : ndarray, shape (C, len(ns), d)
    step_size : ndarray, shape (len(ns),)
    """
    ns = np.asarray(ns, dtype=np.int64)
    have = np.asarray(state.ns, dtype=np.int64)
    positions = np.array(state.positions[:, _lower_rung(have, ns)], dtype=float)
    step_size = np.exp(np.interp(np.log(ns), np.log(have), np.log(state.step_size)))
    return positions, step_size


# ----------------------------------------------------------------------------------------------
# outputs

@dataclass
class PTResult:
    """Output of :func:`sample_tms_pt` (layout in the module docstring)."""

    posteriors: dict
    diagnostics: Any
    state: PTState
    target: PTTarget = field(repr=False)
    attrs: dict = field(default_factory=dict)

    def all_posteriors(self) -> dict:
        """``{n: InferenceData}`` for every rung, inserted ones included."""
        return to_inference_data(self.state, self.target, rungs="all", attrs=self.attrs,
                                 loss_name=self.attrs.get("loss_name"))


def to_inference_data(state: PTState, target: PTTarget, *, rungs="requested", attrs: dict | None = None,
                      loss_name: str | None = None) -> dict:
    """One ``arviz.InferenceData`` per rung from the kept draws of ``state``.

    Parameters
    ----------
    state : PTState
    target : PTTarget
        Provides ``split`` and ``dims`` (and the loss, see ``loss_name``).
    rungs : {"requested", "all"} or sequence of int
        Which rungs (by ``n``).
    attrs : dict, optional
        Extra ``posterior.attrs`` (``n``, ``sampler``, ``ladder`` and ``inserted`` are always set).
    loss_name : str, optional
        When given, add the per-draw loss ``(lp_prior - lp) / (n beta)`` under this name; needs
        ``attrs["beta"]`` and ``attrs["prior_sigma"]`` (Gaussian prior on every coordinate).

    Returns
    -------
    dict
        ``{n: InferenceData}``.
    """
    import arviz as az
    import xarray as xr

    attrs = dict(attrs or {})
    ns = state.ns.tolist()
    if rungs == "requested":
        which = [k for k in range(len(ns)) if state.requested[k]]
    elif rungs == "all":
        which = list(range(len(ns)))
    else:
        missing = [n for n in rungs if n not in ns]
        if missing:
            raise InputError(f"rungs: expected sample sizes from the ladder {ns}, got {missing}")
        which = [ns.index(n) for n in rungs]
    out = {}
    C, K = state.draws.shape[:2]
    coords = {"chain": np.arange(C), "draw": np.arange(K)}
    for k in which:
        q = state.draws[:, :, k]
        post = {}
        for name, value in target.split(q).items():
            post[name] = xr.DataArray(value, dims=("chain", "draw") + tuple(target.dims[name]))
        lp = state.draw_logdensity[:, :, k]
        if loss_name is not None:
            prior = -0.5 * (q * q).sum(-1) / float(attrs["prior_sigma"]) ** 2
            post[loss_name] = xr.DataArray((prior - lp) / (ns[k] * float(attrs["beta"])),
                                           dims=("chain", "draw"))
        posterior = xr.Dataset(post, coords=coords)
        posterior.attrs.update(attrs)
        posterior.attrs.update({"n": int(ns[k]), "sampler": "pt", "ladder": ns,
                                "inserted": bool(not state.requested[k])})
        stats = xr.Dataset({"lp": (("chain", "draw"), lp),
                            "replica": (("chain", "draw"), state.draw_replica[:, :, k])}, coords=coords)
        out[int(ns[k])] = az.InferenceData(posterior=posterior, sample_stats=stats)
    return out


def pt_diagnostics(state: PTState, attrs: dict | None = None):
    """PT diagnostics of a run as an ``xarray.Dataset``.

    Variables: ``swap_accept (pair)`` (pooled over copies, after warm-up), ``swap_accept_copy
    (copy, pair)``, ``swap_attempts (copy, pair)``, ``n_lo, n_hi (pair)``, ``round_trips (copy)``,
    ``replica_index (copy, draw, rung)`` (walker id at each rung for each kept draw),
    ``step_size (rung)``, ``hmc_accept (rung)`` (mean acceptance probability after warm-up),
    ``divergences (rung)`` (summed over copies, after warm-up), ``requested (rung)``; coordinate ``rung`` holds the sample sizes ``n``.
    """
    import xarray as xr

    ns = state.ns
    R = len(ns)
    C, K = state.draws.shape[:2]
    att = state.swap_attempts
    with np.errstate(invalid="ignore", divide="ignore"):
        per_copy = np.where(att > 0, state.swap_accepts / np.maximum(att, 1), np.nan)
    kept = max(state.kept_sweeps, 1)
    ds = xr.Dataset(
        {
            "swap_accept": (("pair",), _swap_accept(state)),
            "swap_accept_copy": (("copy", "pair"), per_copy),
            "swap_attempts": (("copy", "pair"), att),
            "n_lo": (("pair",), ns[:-1]),
            "n_hi": (("pair",), ns[1:]),
            "round_trips": (("copy",), state.round_trips),
            "replica_index": (("copy", "draw", "rung"), state.draw_replica),
            "step_size": (("rung",), state.step_size),
            "hmc_accept": (("rung",), state.hmc_accept_sum.mean(axis=0) / kept),
            "divergences": (("rung",), state.divergences.sum(axis=0)),
            "requested": (("rung",), state.requested),
        },
        coords={"rung": ns, "pair": np.arange(R - 1), "copy": np.arange(C), "draw": np.arange(K)},
    )
    ds.attrs.update(attrs or {})
    ds.attrs.update({"sampler": "pt", "sweeps_done": int(state.sweep),
                     "warmup": int(state.settings["warmup"]), "thin": int(state.settings["thin"]),
                     "leapfrog": int(state.settings["leapfrog"])})
    return ds


def _tms_data(config: PTConfig, x):
    if config.population:
        return None
    c = config.features
    x = sample_inputs(max(config.ns), c, config.seed) if x is None else np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[0] < max(config.ns) or x.shape[1] != c:
        raise InputError(f"x: expected shape (>= {max(config.ns)}, {c}), got {x.shape}")
    return x


def _tms_maker(config: PTConfig, x):
    def make_target(ns):
        return tms_target(ns, x=x, features=config.features, hidden=config.hidden, beta=config.beta,
                          prior_sigma=config.prior_sigma, population=config.population, kernel=config.kernel)
    return make_target


#: how the randomness of :func:`sample_tms_pt` derives from the root seed (recorded in the attrs)
SEED_RULE = ("comparisons.theory.streams: data = sample_inputs(max(ns), c, seed) (stream child_rng(seed, 'data')); "
             "ladder refinement from child_sequence(seed, 'bayes', 'pt', 'pilot'), the run from "
             "child_sequence(seed, 'bayes', 'pt', 'main')")


def _tms_result(x, config: PTConfig, state: PTState, target: PTTarget, record: dict,
                rungs="requested") -> PTResult:
    attrs = {"beta": float(config.beta), "prior_sigma": float(config.prior_sigma),
             "seed": int(config.seed), "features": int(config.features), "hidden": int(config.hidden),
             "population": int(config.population), "copies": int(config.copies),
             "requested_ns": list(config.ns), "ladder_converged": int(record["converged"]),
             "ladder_rounds": json.dumps(record["rounds"]), "config": json.dumps(config.to_dict()),
             "seed_rule": SEED_RULE}
    loss_name = "population_loss" if config.population else "empirical_loss"
    post_attrs = {k: attrs[k] for k in ("beta", "prior_sigma", "seed", "features", "hidden", "population",
                                        "seed_rule")}
    post_attrs["loss_name"] = loss_name
    posteriors = to_inference_data(state, target, rungs="requested" if rungs is None else rungs, attrs=post_attrs,
                                   loss_name=loss_name)
    for n, idata in posteriors.items():  # labelled here, as NUTS and SMC label theirs (bayes_tms.labels)
        label_posterior(idata.posterior, None if x is None else x[:n], config)
    return PTResult(posteriors=posteriors, diagnostics=pt_diagnostics(state, attrs), state=state,
                    target=target, attrs=post_attrs)


def sample_tms_pt(x: np.ndarray | None, config: PTConfig, *, progress: bool = False,
                  callback: Callable[[PTState], Any] | None = None, chunk: int = 100,
                  start: PTState | None = None, rungs: Sequence[int] | None = None) -> PTResult:
    """Parallel tempering over the ``n``-ladder of the TMS posterior.

    Parameters
    ----------
    x : ndarray, shape (N_max >= max(ns), c), or None
        Data stream; None: draw it from the seed, ``sample_inputs(max(ns), features, seed)``;
        ignored when ``config.population``.
    config : PTConfig
    progress : bool
        tqdm progress bars.
    callback, chunk
        Passed to :func:`run` for the main run, e.g. ``lambda s: save_state(s, path)`` to
        checkpoint; continue an interrupted run with :func:`resume_tms_pt`.
    start : PTState, optional
        The final state of a run on the same data to start from (:func:`warm_start`) instead of
        prior draws; its ladder is taken as refined already, so ``config.min_swap_accept`` must be
        0 (no pilots). The result is a function of ``config`` and ``start``.
    rungs : sequence of int, optional
        The requested rungs whose ``posteriors`` are returned (labelled), e.g. those a switch
        refinement round keeps; default every requested rung. The draws do not depend on it.

    Returns
    -------
    PTResult
        ``posteriors`` for the requested ``n``, labelled by ``config.classifier``
        (:func:`bayes_tms.labels.label_posterior`), ``diagnostics``, the final ``state``.
    """
    if not isinstance(config, PTConfig):
        raise InputError(f"config: expected a PTConfig, got {type(config).__name__}")
    x = _tms_data(config, x)
    make_target = _tms_maker(config, x)
    pilot_ss, main_ss = (child_sequence(config.seed, "bayes", "pt", part) for part in ("pilot", "main"))
    requested_ns = np.asarray(config.ns, dtype=np.int64)
    record: dict = {"rounds": [], "converged": True}
    positions = step_size = None
    ns = requested_ns
    if start is not None:
        if config.min_swap_accept > 0:
            raise InputError(f"start: expected min_swap_accept = 0 with a warm start (its ladder is "
                             f"refined already), got {config.min_swap_accept!r}")
        if np.shape(start.positions)[0] != config.copies:
            raise InputError(f"start: expected a state of {config.copies} copies, got {np.shape(start.positions)[0]}")
        positions, step_size = warm_start(start, ns)
    elif len(ns) > 1 and config.min_swap_accept > 0:
        ns, pilot, record = refine_ladder(
            make_target, ns, copies=config.copies, seed=pilot_ss,
            min_swap_accept=config.min_swap_accept, max_rungs=config.max_rungs,
            pilot_sweeps=config.pilot_sweeps, pilot_warmup=config.pilot_warmup,
            leapfrog=config.leapfrog, target_accept=config.target_accept, progress=progress)
        positions, step_size = pilot.positions, pilot.step_size
    target = make_target(ns)
    state = init(target, config.copies, main_ss, positions=positions, step_size=step_size,
                 warmup=config.warmup, leapfrog=config.leapfrog, thin=config.thin,
                 target_accept=config.target_accept, requested=np.isin(ns, requested_ns),
                 metadata={"config": config.to_dict(), "ladder_record": record})
    state = run(state, target, config.warmup + config.sweeps, callback=callback, chunk=chunk,
                progress=progress)
    return _tms_result(x, config, state, target, record, _output_rungs(config, rungs))


def resume_tms_pt(x: np.ndarray | None, state: PTState, *, progress: bool = False,
                  callback: Callable[[PTState], Any] | None = None, chunk: int = 100,
                  rungs: Sequence[int] | None = None) -> PTResult:
    """Finish a :func:`sample_tms_pt` run from a saved state (e.g. ``load_state(path)``).

    The configuration, ladder and refinement record are read from the state; ``x`` must be the
    data stream of the original run when it was not the default one. The draws are bit-identical
    to those of an uninterrupted run. ``rungs``: as in :func:`sample_tms_pt`.
    """
    meta = state.settings.get("meta", {})
    if "config" not in meta:
        raise InputError("state: expected a state written by sample_tms_pt (no config in its metadata)")
    cfg = dict(meta["config"])
    cfg["ns"] = tuple(cfg["ns"])
    config = PTConfig(**cfg)
    x = _tms_data(config, x)
    target = _tms_maker(config, x)(state.ns)
    remaining = config.warmup + config.sweeps - int(state.sweep)
    state = run(state, target, max(remaining, 0), callback=callback, chunk=chunk, progress=progress)
    return _tms_result(x, config, state, target, meta.get("ladder_record", {"rounds": [], "converged": True}),
                       _output_rungs(config, rungs))


def _output_rungs(config: PTConfig, rungs) -> list[int] | None:
    """``rungs`` checked against the requested ones (None: all of them)."""
    if rungs is None:
        return None
    out = sorted({int(n) for n in rungs})
    extra = sorted(set(out) - set(config.ns))
    if extra:
        raise InputError(f"rungs: expected requested sample sizes {list(config.ns)}, got {extra}")
    return out
