"""Enumeration of the k-gon critical points of the TMS potential for ``r = 2``.

A *phase* is a decorated regular k-gon (``docs/study.md`` section 3):

- ``k`` live columns of common length ``l*`` at angles ``2 pi j / k``, biases ``b*``;
- ``sigma`` dead columns (``W_i = 0``) with positive bias ``1/(2c)`` (the ``+`` decorations);
- ``phi`` polygon vertices switched off by a bias below ``-l*^2`` (the ``-`` decorations);
- the remaining ``c - k - sigma`` columns dead with a strictly negative bias.

``(l*, b*)`` are found as roots of the gradient of ``L`` restricted to the two-parameter regular
family, from a grid of starting points; each assembled point is then checked to be critical in
the full ``r c + c`` dimensional space. Nothing is assumed: a (k, sigma, phi) combination whose
full gradient does not vanish is not a phase.
"""

from __future__ import annotations

__all__ = ["Phase", "solve_kgon", "kgon_point", "enumerate_phases", "hessian", "phase_label",
           "measured_llc_path", "measured_llc_table", "measured_llc_overrides"]

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import optimize

from ..errors import InputError, check_positive_int
from .potential import population_loss, population_loss_grad

#: gradient-norm bound under which an assembled point counts as critical
CRITICAL_TOL = 1e-8
#: finite-difference step of the Hessian (of the exact gradient)
HESSIAN_STEP = 1e-5
#: eigenvalues above this (absolute) count towards the Hessian rank
RANK_TOL = 1e-6
#: one-sided Hessians differing by more than this mark a non-C^2 wall
WALL_TOL = 1e-3


#: how far below its firing threshold a dead or switched-off bias sits in the canonical
#: representative (any value below the threshold is equally critical; this one keeps the
#: representative clear of the chamber wall so that small noise does not cross it)
OFF_MARGIN = 0.25


def phase_label(k: int, sigma: int, phi: int) -> str:
    """Label of a decorated k-gon, e.g. ``phase_label(4, 2, 1) == "4++-"``."""
    return f"{k}" + "+" * sigma + "-" * phi


@dataclass(frozen=True)
class Phase:
    """A k-gon critical point of the TMS potential and its invariants.

    Attributes
    ----------
    label : str
        ``k`` followed by ``sigma`` pluses and ``phi`` minuses.
    k, sigma, phi, c : int
    length, bias : float
        ``l*`` and ``b*`` of the regular polygon.
    W : ndarray, shape (2, c)
        Canonical representative: vertex ``j`` at angle ``2 pi j / k``, polygon in the first ``k``
        columns (the switched-off vertices last among them), then the ``+`` columns, then the
        dead ones.
    b : ndarray, shape (c,)
    loss : float
        Population loss ``L(w*)`` (``H = 3 c L`` in the paper's units).
    grad_norm : float
        Euclidean norm of the full gradient at ``(W, b)``.
    hessian_eigenvalues : ndarray, shape (3c,)
        Spectrum of the symmetrised central-difference Hessian of ``L`` (ascending).
    hessian_rank : int
        Number of eigenvalues above ``RANK_TOL``.
    on_wall : bool
        True where one-sided Hessians disagree (``L`` is not C^2 at the point).
    llc : float or None
        Theoretical learning coefficient ``hessian_rank / 2`` where ``L`` is C^2 at the point
        (non-degenerate modulo the flat directions); None on a wall, where rank/2 is not the RLCT.
    llc_bound : float
        ``hessian_rank / 2`` in every case; on a wall it bounds the LLC from above (a direction
        that is flat on one side of the wall still counts as curved here) provided every direction
        flat in both one-sided Hessians is flat in ``L`` (a quartic one would add 1/4). NUTS
        measures 4 at c = 4 above it (``docs/results/llc.md``; ``docs/methods.md``, "The learning
        coefficients of the wall phases").
    prior_term : float
        ``(1/2)|w*|^2`` over the parameters that are pinned: polygon and switched-off columns of
        ``W``, polygon biases and ``+`` biases; negative dead/switched-off biases count 0.
    llc_measured, llc_se : float or None
        Learning coefficient measured on the exact population loss and its standard error, from
        the shipped table ``data/llc_measured_c{c}.json`` (:func:`measured_llc_table`; written by
        ``tms-phases llc --measure-phases``); None where the phase was not measured.
    llc_method : str or None
        How ``llc_measured`` was obtained (e.g. ``"nuts-population-extrapolated"``).
    """

    label: str
    k: int
    sigma: int
    phi: int
    c: int
    length: float
    bias: float
    W: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    loss: float
    grad_norm: float
    hessian_eigenvalues: np.ndarray = field(repr=False)
    hessian_rank: int
    on_wall: bool
    llc: float | None
    llc_bound: float
    prior_term: float
    llc_measured: float | None = None
    llc_se: float | None = None
    llc_method: str | None = None

    @property
    def H(self) -> float:
        """The paper's ``H = 3 c L``."""
        return 3 * self.c * self.loss

    def to_dict(self) -> dict:
        """JSON-ready summary (the keys of ``tms-phases kgons --format json``)."""
        return {
            "label": self.label,
            "k": self.k,
            "sigma": self.sigma,
            "phi": self.phi,
            "length": self.length,
            "bias": self.bias,
            "loss": self.loss,
            "prior_term": self.prior_term,
            "llc": self.llc,
            "llc_bound": self.llc_bound,
            "grad_norm": self.grad_norm,
            "hessian_rank": self.hessian_rank,
            "on_wall": self.on_wall,
            "llc_measured": self.llc_measured,
            "llc_se": self.llc_se,
            "llc_method": self.llc_method,
        }


def kgon_point(k: int, c: int, length: float, bias: float, sigma: int = 0, phi: int = 0,
               rotation: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Assemble the decorated k-gon ``(W[2, c], b[c])`` described in :class:`Phase`."""
    if not (1 <= k <= c and 0 <= sigma <= c - k and 0 <= phi < k):
        raise InputError(f"expected 1 <= k <= c, 0 <= sigma <= c-k, 0 <= phi < k; got k={k}, c={c}, sigma={sigma}, phi={phi}")
    ang = rotation + 2 * np.pi * np.arange(k) / k
    W = np.zeros((2, c))
    W[0, :k] = length * np.cos(ang)
    W[1, :k] = length * np.sin(ang)
    b = np.full(c, -OFF_MARGIN)
    b[:k] = bias
    b[k - phi:k] = -(length**2) - OFF_MARGIN
    b[k:k + sigma] = 1.0 / (2 * c)  # optimum of a lone positive bias
    return W, b


def _family_grad(params: np.ndarray, k: int, c: int) -> np.ndarray:
    length, bias = params
    W, b = kgon_point(k, c, length, bias)
    gW, gb = population_loss_grad(W, b)
    dl = np.sum(gW[:, :k] * W[:, :k]) / length
    return np.array([dl, gb[:k].sum()])


@functools.lru_cache(maxsize=None)
def solve_kgon(k: int, c: int) -> tuple[tuple[float, float], ...]:
    """Critical points ``(l*, b*)`` of ``L`` on the regular k-gon family in ``c`` features.

    Returns every distinct root with ``l* > 0`` found from a grid of starts, refined until the
    restricted gradient is below ``1e-13``; an empty tuple where no regular k-gon exists.
    """
    roots: list[tuple[float, float]] = []
    for l0 in np.linspace(0.5, 2.0, 7):
        for b0 in np.linspace(-0.8, 0.6, 8):
            sol = optimize.root(_family_grad, [l0, b0], args=(k, c), method="hybr", tol=1e-15)
            l, bb = sol.x
            if not sol.success or l <= 1e-3 or np.linalg.norm(_family_grad(sol.x, k, c)) > 1e-12:
                continue
            # a root where the polygon never fires is just the dead configuration
            if bb <= -(l**2):
                continue
            l, bb = (0.0 if abs(v) < 1e-13 else float(v) for v in (l, bb))  # solver noise
            if all(abs(l - l1) > 1e-7 or abs(bb - b1) > 1e-7 for l1, b1 in roots):
                roots.append((l, bb))
    return tuple(sorted(roots))


def hessian(W: np.ndarray, b: np.ndarray, step: float = HESSIAN_STEP) -> tuple[np.ndarray, bool]:
    """Central-difference Hessian of ``L`` from its exact gradient, and a non-C^2 flag.

    Returns the symmetrised Hessian over the flattened parameters ``(W.ravel(), b)``, shape
    ``(r c + c, r c + c)``, and ``on_wall``: whether the forward and backward one-sided Hessians
    differ by more than ``WALL_TOL``. On a wall the central difference is the mean of the two
    one-sided Hessians.
    """
    shape = W.shape

    def g(x: np.ndarray) -> np.ndarray:
        gW, gb = population_loss_grad(x[: W.size].reshape(shape), x[W.size:])
        return np.concatenate([gW.ravel(), gb])

    return hessian_from_gradient(g, np.concatenate([W.ravel(), b]), step)


def hessian_from_gradient(grad, x0: np.ndarray, step: float = HESSIAN_STEP) -> tuple[np.ndarray, bool]:
    """:func:`hessian` of any function given its exact gradient ``grad(x[d]) -> (d,)`` at ``x0``.

    Returns the symmetrised central-difference Hessian, shape ``(d, d)`` (the mean of the two
    one-sided Hessians on a wall), and whether those one-sided Hessians differ by more than
    ``WALL_TOL``.
    """
    x0 = np.asarray(x0, dtype=float)
    eye = np.eye(x0.size) * step
    g0 = np.asarray(grad(x0), dtype=float)
    plus = np.stack([np.asarray(grad(x0 + e), dtype=float) for e in eye])
    minus = np.stack([np.asarray(grad(x0 - e), dtype=float) for e in eye])
    fwd, bwd = (plus - g0) / step, (g0 - minus) / step
    central = (plus - minus) / (2 * step)
    return (central + central.T) / 2, bool(np.max(np.abs(fwd - bwd)) > WALL_TOL)


#: folder of the shipped measured-LLC tables
DATA_DIR = Path(__file__).resolve().parent / "data"


def measured_llc_path(c: int) -> Path:
    """``comparisons/theory/data/llc_measured_c{c}.json`` (may not exist)."""
    return DATA_DIR / f"llc_measured_c{int(c)}.json"


@functools.lru_cache(maxsize=None)
def measured_llc_table(c: int) -> dict:
    """``label -> (llc_measured, llc_se, method)`` from the shipped table for ``c``; {} if none.

    The table is generated (never hand-typed) by ``tms-phases llc --measure-phases -c C --out
    comparisons/theory/data`` (:func:`comparisons.jobs.llc.measure_phase_llcs`).
    """
    path = measured_llc_path(c)
    if not path.is_file():
        return {}
    table = json.loads(path.read_text())
    return {r["phase"]: (float(r["llc_measured"]), float(r["llc_se"]), str(r["method"]))
            for r in table.get("phases", []) if r.get("llc_measured") is not None}


def measured_llc_overrides(phases) -> dict[str, float]:
    """``label -> llc_measured`` for the phases whose exact ``llc`` is missing (non-C^2 walls).

    Pass as ``llc=`` to :func:`free_energy`, :func:`crossings` and :func:`dominant_intervals`; the
    exact rank/2 stays in force where ``L`` is C^2.
    """
    return {p.label: p.llc_measured for p in phases if p.llc is None and p.llc_measured is not None}


def _make_phase(k: int, sigma: int, phi: int, c: int, length: float, bias: float) -> Phase | None:
    W, b = kgon_point(k, c, length, bias, sigma, phi)
    gW, gb = population_loss_grad(W, b)
    grad_norm = float(np.sqrt(np.sum(gW**2) + np.sum(gb**2)))
    if grad_norm > CRITICAL_TOL:
        return None
    Hm, on_wall = hessian(W, b)
    eig = np.linalg.eigvalsh(Hm)
    rank = int(np.sum(eig > RANK_TOL))
    pinned_b = np.concatenate([b[:k - phi], b[k:k + sigma]])
    prior = 0.5 * (np.sum(W**2) + np.sum(pinned_b**2))
    label = phase_label(k, sigma, phi)
    measured, se, method = measured_llc_table(c).get(label, (None, None, None))
    return Phase(
        label=label, k=k, sigma=sigma, phi=phi, c=c,
        length=length, bias=bias, W=W, b=b, loss=float(population_loss(W, b)),
        grad_norm=grad_norm, hessian_eigenvalues=eig, hessian_rank=rank, on_wall=on_wall,
        llc=None if on_wall else rank / 2, llc_bound=rank / 2, prior_term=float(prior),
        llc_measured=measured, llc_se=se, llc_method=method,
    )


def enumerate_phases(c: int, r: int = 2) -> tuple[Phase, ...]:
    """Every decorated regular k-gon critical point in ``c`` features, sorted by loss.

    Parameters
    ----------
    c : int
        Number of features, 2 to 8.
    r : int
        Hidden dimension; only ``r = 2`` has a k-gon theory.

    Returns
    -------
    tuple of Phase
        For each ``k`` in ``3..c`` with a regular root ``(l*, b*)`` (and ``k = 2``, the antipodal
        pair), every ``sigma`` in ``0..c-k`` and every ``phi`` in ``0..k-1`` whose assembled point
        is critical (full gradient norm below ``CRITICAL_TOL``).

    Examples
    --------
    >>> [p.label for p in enumerate_phases(4)][:3]
    ['4', '3+', '3']
    """
    c = check_positive_int("c (features)", c, minimum=2)
    if c > 8:
        raise InputError(f"features: expected 2 <= c <= 8 for the k-gon enumeration, got {c}")
    if isinstance(r, bool) or not isinstance(r, (int, np.integer)) or r != 2:
        raise InputError(f"hidden: the k-gon theory needs r = 2, got r = {' '.join(repr(r).split())[:60]}")
    return _enumerate_phases(int(c))


#: environment variable naming the folder of the on-disk enumeration cache ("off": no disk cache)
CACHE_ENV = "TMS_PHASES_CACHE"


def _cache_file(c: int) -> Path | None:
    """Where the enumeration for ``c`` is cached on disk, keyed by everything that computes it.

    The key hashes the sources of :mod:`comparisons.theory` (the solver, the loss, the Hessian),
    the shipped measured-LLC table for ``c`` and the numpy and scipy versions: any change to
    them is another file, so a stale enumeration is never read. ``None`` when disabled.
    """
    import hashlib
    import os

    import scipy

    root = os.environ.get(CACHE_ENV, "")
    if root.lower() == "off":
        return None
    folder = Path(root) if root else Path.home() / ".cache" / "tms-phases"
    h = hashlib.sha256(f"{c} {np.__version__} {scipy.__version__}".encode())
    for path in sorted(Path(__file__).resolve().parent.glob("*.py")) + [measured_llc_path(c)]:
        h.update(path.name.encode())
        h.update(path.read_bytes() if path.is_file() else b"-")
    return folder / f"phases_c{c}_{h.hexdigest()[:24]}.pkl"


def _disk_cached(c: int, compute) -> tuple[Phase, ...]:
    """``compute()``, read from / written to :func:`_cache_file` (any I/O failure: just compute).

    Solving the k-gon families takes seconds (about 4 s at c = 6 on a loaded 2-core machine), paid
    by every process that classifies draws; the cached result is the same tuple of phases.
    """
    import os
    import pickle

    path = _cache_file(c)
    if path is not None and path.is_file():
        try:
            with open(path, "rb") as fh:
                phases = pickle.load(fh)
            if isinstance(phases, tuple) and all(isinstance(p, Phase) and p.c == c for p in phases):
                return phases
        except Exception:  # noqa: BLE001 - a damaged or foreign cache file is recomputed
            pass
    phases = compute()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with open(tmp, "wb") as fh:
                pickle.dump(phases, fh)
            os.replace(tmp, path)
        except OSError:  # a read-only home: no cache, same result
            pass
    return phases


@functools.lru_cache(maxsize=None)
def _enumerate_phases(c: int) -> tuple[Phase, ...]:
    """:func:`enumerate_phases` of checked ``c`` (``r = 2``), computed once per ``c`` (and cached on disk)."""
    return _disk_cached(c, lambda: _solve_phases(c))


def _solve_phases(c: int) -> tuple[Phase, ...]:
    """Every decorated k-gon critical point for ``c``, solved from scratch."""
    phases = []
    for k in range(2, c + 1):
        for length, bias in solve_kgon(k, c):
            for sigma in range(c - k + 1):
                for phi in range(k):
                    p = _make_phase(k, sigma, phi, c, length, bias)
                    if p is not None:
                        phases.append(p)
    phases.sort(key=lambda p: (p.loss, p.label))
    return tuple(phases)
