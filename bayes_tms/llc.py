"""Local learning coefficient by exact MCMC: NUTS on the localised tempered posterior.

``lambda_hat(w*) = n beta* (E[L_n(w)] - L_n(w*))`` (Lau et al., arXiv 2308.12108), the expectation
over

``p(w) ∝ exp(-n beta* L_n(w) - (gamma / 2) |w - w*|^2)``,   ``beta* = 1 / log n``

(``docs/study.md`` section 4). There is no prior term: the Gaussian localisation is the
only other factor. NUTS samples this density exactly (no step-size bias, unlike SGLD), so the
estimate is biased only by the localisation (``gamma > 0`` pulls the draws towards ``w*``; it
matters when ``gamma`` is comparable to the curvature ``n beta* L''``) and by ``n beta*`` being
finite (the RLCT is the ``n beta* -> inf`` limit of the estimator).

The standard error comes from the effective sample size of the ``L_n`` trace pooled over chains
(ArviZ bulk ESS): ``se = n beta* sd(L_n) / sqrt(ESS)``.

Implementation: the localised density is written as ``u ~ Normal(0, gamma^{-1/2})`` for the
displacement and ``w = w* + u``, plus the potential ``-n beta* L_n(w)``; ``w*``, the data and
``n beta*`` live in ``pm.Data`` containers so that one compiled model serves every centre, data
set and temperature. Chains start at ``w*`` (``u = 0``, no jitter).

Basin restriction (``restrict="basin"``). The LLC of a critical point is a property of its
neighbourhood (Watanabe's RLCT of ``L`` near ``w*``), so the right target is the localised tempered
posterior *restricted to the basin of the phase*: at a saddle of ``L`` (the 5-gon, 5+, the 4-gons
of c = 6) the unrestricted density ``exp(-n beta* L_n - gamma |w - w*|^2 / 2)`` puts almost all of
its mass in a lower-loss phase once ``n beta*`` is large (a dead column comes alive, a ``+`` column
grows into a polygon vertex) and ``lambda_hat`` goes very negative. The basin is the set where
every column keeps the role it has at ``w*`` (the roles of :mod:`comparisons.theory.classify`,
``P = PRESENT_NORM``):

- present and firing (``|W_j| >= P``, ``|W_j|^2 + b_j > 0``): stays so;
- present and switched off (a ``-``): ``|W_j| >= P``, ``|W_j|^2 + b_j <= 0``;
- ``+`` (absent, ``b_j > 0``): ``|W_j| < P``, ``b_j > 0``;
- dead (absent, ``b_j <= 0``): ``|W_j| < P`` and ``|W_j|^2 + b_j <= 0``, i.e. the unit never fires
  for its own feature (``mu <= 1``). This is stricter than the classifier's "absent, ``b_j <= 0``":
  the classifier's set contains a half-alive column (``|W_j| ~ 0.37``, ``b_j ~ 0``) whose
  population loss at the 5-gon is ``0.0669 < L(5) = 0.0687``, an escape of ``n beta* * 0.0019``
  nats (16 at n = 1e5); inside the never-firing set the minimum of ``L`` is ``L(w*)`` (checked by
  constrained optimisation at 5 and 5+).

It is a hard constraint: a PyTensor ``switch`` on these invariants (column norms and biases,
invariant under the O(2) symmetry) adds ``-inf`` to the log density outside. NUTS handles it
exactly (a leapfrog step that leaves the set ends the trajectory; PyMC and nutpie report it as a
divergence, so with ``restrict="basin"`` the ``divergences`` count includes boundary hits).
Inside the set the dead-column directions are exactly flat up to the soft walls of the cross terms,
so they add ``O((n beta*)^{-1/2})`` to the estimate, as they should (``lambda`` counts them as 0).
"""


from __future__ import annotations

__all__ = ["LLCEstimate", "NUTSLLCConfig", "nuts_llc", "loss_llc", "LLC_BACKENDS", "RESTRICTS",
           "basin_roles", "in_basin"]

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from comparisons.errors import InputError, check_finite_array, check_positive_int
from comparisons.theory import LLCEstimate, LLCSettings
from comparisons.theory.llc_estimate import settings_field

from .cache import ModelCache

#: accepted values of ``backend``
LLC_BACKENDS = ("auto", "pymc", "nutpie")
#: accepted values of ``restrict``
RESTRICTS = ("auto", "basin", None)

#: column roles of the basin (see the module docstring)
ROLE_FIRING, ROLE_OFF, ROLE_PLUS, ROLE_DEAD = 0, 1, 2, 3
_ROLE_NAMES = ("present-firing", "present-off", "plus", "dead")


# -- validation ----------------------------------------------------------------------------------

def _positive_float(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a positive number, got {value!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise InputError(f"{name}: expected a positive number, got {value!r}")
    return v


def _resolve_backend(backend: str) -> str:
    if backend not in LLC_BACKENDS:
        raise InputError(f"backend: expected one of {', '.join(LLC_BACKENDS)}, got {backend!r}")
    if backend == "auto":
        from .config import nutpie_available

        return "nutpie" if nutpie_available() else "pymc"
    if backend == "nutpie":
        from .config import nutpie_available

        if not nutpie_available():
            raise InputError("backend: expected an installed nutpie for 'nutpie', got none")
    return backend


def _seed_sequence(seed) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence(check_positive_int("seed", seed, minimum=0))


@dataclass(frozen=True)
class NUTSLLCConfig(LLCSettings):
    """Settings of a NUTS estimate of the LLC (:func:`nuts_llc`, :func:`loss_llc`).

    ``gamma``, ``beta``, ``chains``, ``draws`` and ``seed`` are those of every LLC estimate,
    inherited from :class:`comparisons.theory.LLCSettings` (one default, help text and check each,
    shared with SGLD's :class:`sgd_tms.LLCConfig`); ``draws`` defaults to 1000 kept draws here.
    Inheritance keeps one flat record: :meth:`to_attrs` is the shared one with the NUTS fields.

    Attributes
    ----------
    gamma, beta, chains, seed
        As in :class:`comparisons.theory.LLCSettings` (default 1, ``1 / log n``, 4, 0).
    draws : int
        Kept draws per chain (default 1000).
    tune : int
        Warm-up (step-size and mass-matrix adaptation) steps per chain, discarded.
    target_accept : float
        NUTS step-size adaptation target, in (0, 1).
    backend : {"auto", "pymc", "nutpie"}
        ``"auto"``: nutpie when installed, else PyMC (resolved when sampling).
    fixed_nbeta : float or None
        ``n beta`` itself instead of ``beta`` (for :func:`loss_llc`, where ``n`` only labels the
        temperature); None: :meth:`nbeta` resolves ``n beta`` from ``beta``. Not both.
    """

    draws: int = settings_field("draws", default=1000)
    tune: int = field(default=1000, metadata={"help": "NUTS warm-up steps per chain"})
    target_accept: float = field(default=0.9, metadata={"help": "NUTS step-size adaptation target"})
    backend: str = field(default="auto", metadata={"help": "NUTS back-end", "choices": LLC_BACKENDS})
    fixed_nbeta: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        check_positive_int("tune", self.tune, minimum=0)
        _accept(self.target_accept)
        if self.backend not in LLC_BACKENDS:
            raise InputError(f"backend: expected one of {', '.join(LLC_BACKENDS)}, got {self.backend!r}")
        if self.fixed_nbeta is not None:
            _positive_float("nbeta", self.fixed_nbeta)
            if self.beta is not None:
                raise InputError(f"nbeta: expected either beta or nbeta, got both (beta = {self.beta!r})")

    def nbeta(self, n: int) -> float:
        """``fixed_nbeta`` when set, else ``n beta`` (:meth:`comparisons.theory.LLCSettings.nbeta`)."""
        return float(self.fixed_nbeta) if self.fixed_nbeta is not None else super().nbeta(n)

    def to_attrs(self, n: int) -> dict:
        """The shared record plus the NUTS fields; ``fixed_nbeta`` appears as ``nbeta``, with
        ``beta = nbeta / n``."""
        out = super().to_attrs(n)
        del out["fixed_nbeta"]
        if self.fixed_nbeta is not None:
            out["beta"] = out["nbeta"] / int(n)
        return out

    @classmethod
    def from_kwargs(cls, config: NUTSLLCConfig | None = None, *, nbeta: float | None = None,
                    **values) -> NUTSLLCConfig:
        """``config`` (default: the defaults) with the values given (not None) on top.

        ``nbeta`` sets ``fixed_nbeta`` (the keyword API of :func:`nuts_llc` and :func:`loss_llc`).
        """
        given = {k: v for k, v in values.items() if v is not None}
        if nbeta is not None:
            given["fixed_nbeta"] = nbeta
        return dataclasses.replace(config, **given) if config is not None else cls(**given)


def _check_common(gamma, chains, draws, tune) -> tuple[float, int, int, int]:
    """Checked ``(gamma, chains, draws, tune)`` by the checks of :class:`NUTSLLCConfig`."""
    cfg = NUTSLLCConfig(gamma=gamma, chains=chains, draws=draws, tune=tune)
    return float(cfg.gamma), int(cfg.chains), int(cfg.draws), int(cfg.tune)


# -- basin ---------------------------------------------------------------------------------------

def basin_roles(W0, b0) -> np.ndarray:
    """Role code of every column of ``w* = (W0, b0)`` (the classifier's rule, PRESENT_NORM).

    Returns
    -------
    ndarray of int, shape (c,)
        ``ROLE_FIRING`` (present, ``|W_j|^2 + b_j > 0``), ``ROLE_OFF`` (present, not firing),
        ``ROLE_PLUS`` (absent, ``b_j > 0``) or ``ROLE_DEAD`` (absent, ``b_j <= 0``).
    """
    from comparisons.theory import PRESENT_NORM

    W0 = np.asarray(W0, dtype=float)
    b0 = np.asarray(b0, dtype=float)
    norm2 = np.sum(W0**2, axis=0)
    present = norm2 >= PRESENT_NORM**2
    fires = norm2 + b0 > 0
    return np.where(present, np.where(fires, ROLE_FIRING, ROLE_OFF),
                    np.where(b0 > 0, ROLE_PLUS, ROLE_DEAD)).astype(np.int64)


def in_basin(W, b, roles, dead_bias_max: float = 0.0) -> np.ndarray:
    """Whether ``(W, b)`` (batched: ``W[..., r, c]``, ``b[..., c]``) lies in the basin of ``roles``.

    The numpy twin of the model's constraint: every column keeps its role, a dead column never
    fires for its own feature (``|W_j|^2 + b_j <= 0``). See the module docstring.
    ``dead_bias_max`` (<= 0) tightens the dead role to ``b_j <= dead_bias_max`` as well (the
    population-loss LLC of the wall phases needs dead biases clearly negative:
    :mod:`bayes_tms.population_llc`); the default 0 adds nothing.
    """
    from comparisons.theory import PRESENT_NORM

    W = np.asarray(W, dtype=float)
    b = np.asarray(b, dtype=float)
    roles = np.asarray(roles)
    norm2 = np.sum(W**2, axis=-2)
    present = norm2 >= PRESENT_NORM**2
    fires = norm2 + b > 0
    ok = np.select([roles == ROLE_FIRING, roles == ROLE_OFF, roles == ROLE_PLUS],
                   [present & fires, present & ~fires, ~present & (b > 0)],
                   ~present & ~fires & (b <= dead_bias_max))
    return ok.all(axis=-1)


def _basin_logp(W, b, roles):
    """PyTensor ``0`` inside the basin of ``roles`` and ``-inf`` outside (invariant quantities)."""
    import pytensor.tensor as pt

    from comparisons.theory import PRESENT_NORM

    norm2 = (W**2).sum(axis=0)
    present = pt.ge(norm2, PRESENT_NORM**2)
    fires = pt.gt(norm2 + b, 0.0)
    absent, off = pt.invert(present), pt.invert(fires)
    ok = pt.switch(pt.eq(roles, ROLE_FIRING), present & fires,
                   pt.switch(pt.eq(roles, ROLE_OFF), present & off,
                             pt.switch(pt.eq(roles, ROLE_PLUS), absent & pt.gt(b, 0.0), absent & off)))
    return pt.switch(pt.all(ok), 0.0, -np.inf)


def _resolve_restrict(restrict, W0: np.ndarray, b0: np.ndarray) -> str | None:
    """``"basin"`` or ``None``; ``"auto"`` restricts when ``w*`` is a classified phase.

    ``"auto"``: ``"basin"`` when ``r = 2`` and :func:`comparisons.theory.classify` labels ``w*``
    as an enumerated phase (every phase, the global minimum included: a chain of the unrestricted
    6-gon target that falls into the 5-gon basin during warm-up never returns at large ``n``),
    ``None`` for an unclassified centre (a generic SGD checkpoint far from every phase). An
    explicit ``"basin"`` works for any ``w*`` that lies in its own basin.
    """
    if restrict not in RESTRICTS:
        raise InputError(f"restrict: expected one of 'auto', 'basin', None, got {restrict!r}")
    if restrict is None:
        return None
    inside = bool(in_basin(W0, b0, basin_roles(W0, b0)))
    if restrict == "auto":
        if W0.shape[0] != 2 or not inside:
            return None
        from comparisons.theory import UNCLASSIFIED, classify

        label, _ = classify(W0[None], b0[None])
        return None if str(label[0]) == UNCLASSIFIED else "basin"
    if not inside:
        raise InputError("restrict: expected a centre inside its own basin (a dead column must not fire "
                         "for its own feature: |W_j|^2 + b_j <= 0), got one outside")
    return "basin"


# -- models --------------------------------------------------------------------------------------

def _loss_model(loss_fn: Callable, d: int):
    """Localised model of a generic loss of a parameter vector of length ``d``."""
    import pymc as pm

    with pm.Model() as model:
        center = pm.Data("center", np.zeros(d))
        nbeta = pm.Data("nbeta", np.asarray(1.0))
        scale = pm.Data("scale", np.asarray(1.0))
        u = pm.Normal("u", 0.0, scale, shape=d)
        loss = pm.Deterministic("loss", loss_fn(center + u))
        pm.Potential("loglik", -nbeta * loss)
    return model


def _tms_model(kind: str, hidden: int, features: int, data: dict, restrict: bool = False):
    """Localised TMS model (fast one-hot or dense likelihood); data in ``pm.Data`` containers.

    ``restrict``: add the basin constraint (``-inf`` outside; column roles in ``data["roles"]``).
    """
    import pymc as pm

    from .likelihood import dense_loss, onehot_loss_fused

    coords = {"hidden": np.arange(hidden), "feature": np.arange(features)}
    with pm.Model(coords=coords) as model:
        d = {k: pm.Data(k, v) for k, v in data.items()}
        dW = pm.Normal("dW", 0.0, d["scale"], dims=("hidden", "feature"))
        db = pm.Normal("db", 0.0, d["scale"], dims="feature")
        W = d["W0"] + dW
        b = d["b0"] + db
        if kind == "onehot":
            loss = onehot_loss_fused(W, b, d["oh_mu"], d["oh_prefix"], d["oh_start"], d["oh_end"],
                                     d["oh_sumsq"], d["n_obs"])
        else:
            loss = dense_loss(W, b, d["x"], d["n_obs"])
        loss = pm.Deterministic("loss", loss)
        pm.Potential("loglik", -d["nbeta"] * loss)
        if restrict:
            pm.Potential("basin", _basin_logp(W, b, d["roles"]))
    return model


#: compiled localised models keyed by (kind, backend, shape...); data are swapped per call
_CACHE = ModelCache("localised LLC models")


def _prepared(key: tuple, build: Callable, backend: str, data: dict):
    """The model for ``key`` (built once) with ``data`` set: a pymc Model or a nutpie model."""
    def compiled():
        model = build()
        if backend != "nutpie":
            return model
        import nutpie

        from .likelihood import register_numba

        register_numba()
        # chains start exactly at w* (no jitter): a jittered dead column can start outside
        # the basin, where the restricted log density is -inf
        return nutpie.compile_pymc_model(model, default_initialization_strategy="support_point",
                                         jitter_rvs=set())

    obj = _CACHE.get(key, compiled)
    if backend == "nutpie":
        return obj.with_data(**data)
    import pymc as pm

    with obj:
        pm.set_data(data)
    return obj


#: a chain whose adapted step size is this many times below the median is a failed warm-up
STUCK_STEP_RATIO = 5.0


def _estimate(prepared, backend: str, *, n: int, nbeta: float, gamma: float, loss_at_center: float,
              chains: int, draws: int, tune: int, ss: np.random.SeedSequence, progress: bool,
              target_accept: float, cores: int, restrict: str | None = None,
              basin: tuple | None = None) -> LLCEstimate:
    import arviz as az
    import xarray as xr

    from .sampling import _run_nuts

    # nutpie: every chain starts exactly at w* (u = 0); its default start can fall outside the basin
    init = None if backend != "nutpie" else np.zeros(prepared.n_dim)
    idata = _run_nuts(prepared, backend, draws=draws, tune=tune, chains=chains, cores=cores,
                      seed=int(ss.generate_state(1)[0]), target_accept=target_accept,
                      progress=progress, init_mean=init,
                      store_divergences=backend == "nutpie" and restrict is not None and basin is not None)
    loss = np.asarray(idata.posterior["loss"].transpose("chain", "draw").values, dtype=float)
    trace = xr.DataArray(loss, dims=("chain", "draw"), name="empirical_loss",
                         attrs={"n": n, "nbeta": nbeta, "gamma": gamma})
    stats = idata.sample_stats
    div = int(stats["diverging"].sum()) if "diverging" in stats else -1
    wall = _wall_rejections(prepared, stats, basin) if restrict is not None and basin is not None else 0
    frac = float("nan")
    if basin is not None:  # (W0, b0, roles): fraction of draws inside the basin of w*
        W0, b0, roles = basin
        post = idata.posterior
        dW = post["dW"].transpose("chain", "draw", "hidden", "feature").values
        db = post["db"].transpose("chain", "draw", "feature").values
        frac = float(np.mean(in_basin(W0 + dW, b0 + db, roles)))
    settings = {"tune": int(tune), "target_accept": float(target_accept)}  # beside SGLD's step_size, burn_in
    keep = np.isfinite(loss).all(axis=1)  # a NaN chain is data: drop it, keep the rest
    if "step_size" in stats and loss.shape[0] >= 3:
        step = np.asarray(stats["step_size"].transpose("chain", "draw").values, dtype=float)[:, -1]
        keep &= step >= np.median(step) / STUCK_STEP_RATIO
    failed = int((~keep).sum())
    loss = loss[keep]
    if loss.size == 0:
        return LLCEstimate(np.nan, np.nan, n, nbeta, gamma, chains, draws, loss_at_center, np.nan, "nuts",
                           trace, {**_nuts_diagnostics(0.0, div, backend, restrict, frac, failed, wall),
                                   **settings})
    mean = float(loss.mean())
    sd = float(loss.std(ddof=1)) if loss.size > 1 else np.nan
    if loss.shape[1] >= 4:
        ess = float(az.ess(loss, method="bulk"))
    else:
        ess = float(loss.size)
    se = nbeta * sd / np.sqrt(ess) if ess > 0 else np.nan
    return LLCEstimate(llc=float(nbeta * (mean - loss_at_center)), se=float(se), n=n, nbeta=nbeta, gamma=gamma,
                       chains=chains, draws=draws, loss_at_center=float(loss_at_center), mean_loss=mean,
                       method="nuts", trace=trace,
                       diagnostics={**_nuts_diagnostics(ess, div, backend, restrict, frac, failed, wall),
                                    **settings})


def _nuts_diagnostics(ess: float, divergences: int, backend: str, restrict: str | None, basin_fraction: float,
                      failed_chains: int, wall_rejections: int) -> dict:
    """The NUTS part of an :class:`~comparisons.theory.LLCEstimate`.

    ``ess``: bulk effective sample size of the pooled ``L_n`` trace; ``divergences``: divergent
    transitions of the kept draws; ``backend``: ``"pymc"`` or ``"nutpie"``; ``restrict``:
    ``"basin"`` when the target was restricted to the basin of ``w*``, else None;
    ``basin_fraction``: share of the kept draws inside that basin (:func:`in_basin`; NaN for a
    generic loss); ``failed_chains``: chains left out because their warm-up failed (a non-finite
    loss, or a final step size below ``1/STUCK_STEP_RATIO`` of the median: failures are data,
    counted, never averaged in); ``wall_rejections``: of the divergences, those that ended
    outside the basin (the restricted target's wall; -1 where not known, i.e. PyMC).
    :func:`_estimate` adds the settings that shaped the draws beyond the estimate's own fields:
    ``tune`` and ``target_accept``.
    """
    return {"ess": float(ess), "divergences": int(divergences), "backend": backend, "restrict": restrict,
            "basin_fraction": float(basin_fraction), "failed_chains": int(failed_chains),
            "wall_rejections": int(wall_rejections)}


def _wall_rejections(prepared, stats, basin) -> int:
    """Divergent transitions that ended outside the basin (nutpie's ``divergence_end``); -1 if unknown."""
    if "divergence_end" not in stats or not hasattr(prepared, "shape_info"):
        return -1
    names, slices, shapes = prepared.shape_info
    if not {"dW", "db"} <= set(names):
        return -1
    div = np.asarray(stats["diverging"].values, dtype=bool)
    if not div.any():
        return 0
    ends = np.asarray(stats["divergence_end"].values, dtype=float)[div]  # (k, n_dim)
    W0, b0, roles = basin
    parts = {nm: ends[:, sl].reshape((-1,) + tuple(int(v) for v in shp))
             for nm, sl, shp in zip(names, slices, shapes)}
    finite = np.isfinite(ends).all(-1)  # a non-finite end is a numerical blow-up, not the wall
    with np.errstate(invalid="ignore"):
        outside = ~in_basin(W0 + parts["dW"], b0 + parts["db"], roles)
    return int((finite & outside).sum())


# -- public --------------------------------------------------------------------------------------

def nuts_llc(W0, b0, x, config: NUTSLLCConfig | None = None, *, gamma: float | None = None,
             nbeta: float | None = None, beta: float | None = None, chains: int | None = None,
             draws: int | None = None, tune: int | None = None, seed: int | np.random.SeedSequence | None = None,
             backend: str | None = None, progress: bool = False, target_accept: float | None = None,
             cores: int | None = None, restrict: str | None = "auto") -> LLCEstimate:
    """LLC of the TMS loss at ``w* = (W0, b0)`` by NUTS on the localised tempered posterior.

    Parameters
    ----------
    W0 : array_like, shape (r, c)
        Centre ``w*``: weights.
    b0 : array_like, shape (c,)
        Centre ``w*``: biases.
    x : array_like, shape (n, c)
        Data (the targets are the inputs); one-hot rows ``mu e_j`` select the exact fast
        likelihood automatically. ``n >= 2``.
    config : NUTSLLCConfig, optional
        The settings (default ``NUTSLLCConfig()``); the keywords below, where given (not None),
        replace its fields.
    gamma : float
        Localisation strength (> 0; default 1).
    nbeta : float, optional
        ``n beta`` itself (``NUTSLLCConfig.fixed_nbeta``); default ``n beta`` from ``beta``.
    beta : float, optional
        Inverse temperature; default ``beta* = 1 / log n``. Not with ``nbeta``.
    chains, draws, tune : int
        NUTS chains (each started at ``w*``), kept draws and warm-up steps per chain (default
        4, 1000, 1000).
    seed : int or numpy.random.SeedSequence
        Root of the sampler's randomness (default 0). An int is the config's ``seed``; a
        ``SeedSequence`` is used as the stream itself (the config keeps its own ``seed``).
    backend : {"auto", "pymc", "nutpie"}
        ``"auto"`` (default): nutpie when installed, else PyMC.
    progress : bool
        Show the sampler's progress bar.
    target_accept : float
        NUTS step-size adaptation target (default 0.9).
    cores : int, optional
        Parallel chains (default ``min(chains, 2)``; PyMC with one core avoids process start-up).
    restrict : {"auto", "basin", None}
        ``"basin"``: sample the localised posterior restricted to the basin of ``w*`` (every
        column keeps its role; ``-inf`` log density outside; module docstring). ``None``: the
        unrestricted density. ``"auto"`` (default): ``"basin"`` when ``w*`` is a classified phase
        (``r = 2``), else ``None``.

    Returns
    -------
    LLCEstimate
        ``llc``, ``se`` (from the ESS of the ``L_n`` trace), ``trace (chain, draw)``, the
        settings (``nbeta`` resolved once by :meth:`NUTSLLCConfig.nbeta`; ``tune``,
        ``target_accept`` and ``backend`` in the diagnostics), ``restrict`` and
        ``basin_fraction`` (draws inside the basin of ``w*``).

    Notes
    -----
    ``lambda_hat = n beta* (E[L_n] - L_n(w*))`` over ``exp(-n beta* L_n(w) - gamma |w - w*|^2 / 2)``
    (no prior term). Compiled models are cached per (likelihood, back-end, r, c): repeated calls
    pay only for sampling.

    Examples
    --------
    >>> from comparisons.theory import enumerate_phases, sample_inputs
    >>> p = next(q for q in enumerate_phases(6) if q.label == "6")
    >>> est = nuts_llc(p.W, p.b, sample_inputs(10_000, 6, 0), draws=300, tune=300)  # doctest: +SKIP
    >>> abs(est.llc - p.llc) < 3 * est.se + 0.1 * p.llc  # doctest: +SKIP
    True
    """
    from .model import check_data, model_data, resolve_likelihood

    cfg, ss = _config(config, seed, gamma=gamma, nbeta=nbeta, beta=beta, chains=chains, draws=draws,
                      tune=tune, backend=backend, target_accept=target_accept)
    backend = _resolve_backend(cfg.backend)
    W0 = check_finite_array("W0", W0)
    b0 = check_finite_array("b0", b0)
    if W0.ndim != 2 or b0.ndim != 1 or b0.shape[0] != W0.shape[1]:
        raise InputError(f"w*: expected W0 of shape (r, c) and b0 of shape (c,), got {W0.shape} and {b0.shape}")
    x = check_data(x)
    if x.shape[1] != W0.shape[1]:
        raise InputError(f"x: expected {W0.shape[1]} features (columns of W0), got {x.shape[1]}")
    n = check_positive_int("n (rows of x)", x.shape[0], minimum=2)
    nb = cfg.nbeta(n)
    kind = resolve_likelihood(x, "auto")
    r, c = W0.shape
    restrict = _resolve_restrict(restrict, W0, b0)
    roles = basin_roles(W0, b0)
    data = dict(model_data(x, kind))
    data.update(W0=W0, b0=b0, nbeta=np.asarray(nb), scale=np.asarray(float(cfg.gamma) ** -0.5))
    if restrict:
        data["roles"] = roles
    loss0 = _tms_loss(W0, b0, x)

    def run(be: str) -> LLCEstimate:
        prepared = _prepared(("tms", kind, be, r, c, restrict),
                             lambda: _tms_model(kind, r, c, data, restrict=bool(restrict)), be, data)
        return _estimate(prepared, be, n=n, nbeta=nb, gamma=float(cfg.gamma), loss_at_center=loss0,
                         chains=cfg.chains, draws=cfg.draws, tune=cfg.tune, ss=ss, progress=progress,
                         target_accept=float(cfg.target_accept), cores=cores or min(cfg.chains, 2),
                         restrict=restrict, basin=(W0, b0, roles))

    try:
        return run(backend)
    except RuntimeError as exc:
        # nutpie sometimes refuses to start inside the restricted basin with several dead columns
        # ("All initialization points failed", seen for the 5-gon at c = 7 with >= 4 chains);
        # PyMC starts every chain at w* and samples the same target
        if backend != "nutpie" or "initialization" not in str(exc):
            raise
        return run("pymc")


def _config(config: NUTSLLCConfig | None, seed, **values) -> tuple[NUTSLLCConfig, np.random.SeedSequence]:
    """The settings of one NUTS estimate from ``config`` and the keywords given, and its stream.

    A ``SeedSequence`` seed is the stream itself; an int seed is the config's ``seed``.
    """
    if config is not None and not isinstance(config, NUTSLLCConfig):
        raise InputError(f"config: expected a NUTSLLCConfig, got {type(config).__name__}")
    stream = seed if isinstance(seed, np.random.SeedSequence) else None
    cfg = NUTSLLCConfig.from_kwargs(config, seed=None if stream is not None else seed, **values)
    return cfg, _seed_sequence(stream if stream is not None else cfg.seed)


def _accept(v) -> float:
    v = _positive_float("target_accept", v)
    if not v < 1:
        raise InputError(f"target_accept: expected a number in (0, 1), got {v!r}")
    return v


def _tms_loss(W0: np.ndarray, b0: np.ndarray, x: np.ndarray) -> float:
    from comparisons.theory import empirical_loss, empirical_loss_onehot, is_onehot, onehot_summary

    if is_onehot(x):
        return float(empirical_loss_onehot(W0, b0, onehot_summary(x)))
    return float(empirical_loss(W0, b0, x))


def loss_llc(loss_fn: Callable, w0, config: NUTSLLCConfig | None = None, *, n: int,
             gamma: float | None = None, nbeta: float | None = None, beta: float | None = None,
             chains: int | None = None, draws: int | None = None, tune: int | None = None,
             seed: int | np.random.SeedSequence | None = None, backend: str | None = None,
             progress: bool = False, target_accept: float | None = None, cores: int | None = None,
             name: str | None = None) -> LLCEstimate:
    """LLC of a generic loss ``K(w)`` at ``w0`` by NUTS (the engine of :func:`nuts_llc`).

    Parameters
    ----------
    loss_fn : callable
        Maps a PyTensor vector ``w`` of length ``d`` to a scalar PyTensor expression ``K(w)``
        (e.g. ``lambda w: (w ** 2).sum()``); it plays the role of ``L_n``.
    w0 : array_like, shape (d,)
        Centre ``w*``.
    n : int
        The sample size the temperature refers to (``n >= 2``; ``nbeta`` defaults to ``n / log n``).
    name : str, optional
        Key of the compiled-model cache; give one per distinct ``loss_fn`` to reuse compilation
        across calls (default: no caching).

    Returns
    -------
    LLCEstimate
        With ``lambda_hat = nbeta (E[K] - K(w0))``.

    Notes
    -----
    The other parameters are those of :func:`nuts_llc`.
    """
    cfg, ss = _config(config, seed, gamma=gamma, nbeta=nbeta, beta=beta, chains=chains, draws=draws,
                      tune=tune, backend=backend, target_accept=target_accept)
    backend = _resolve_backend(cfg.backend)
    n = check_positive_int("n", n, minimum=2)
    nb = cfg.nbeta(n)
    w0 = check_finite_array("w0", w0).ravel()
    data = {"center": w0, "nbeta": np.asarray(nb), "scale": np.asarray(float(cfg.gamma) ** -0.5)}
    key = ("loss", name, backend, w0.size) if name is not None else ("loss", id(loss_fn), object())
    prepared = _prepared(key, lambda: _loss_model(loss_fn, w0.size), backend, data)
    if name is None:
        _CACHE.discard(key)
    import pytensor
    import pytensor.tensor as pt

    w = pt.vector("w")
    loss0 = float(pytensor.function([w], loss_fn(w))(w0))
    return _estimate(prepared, backend, n=n, nbeta=nb, gamma=float(cfg.gamma), loss_at_center=loss0,
                     chains=cfg.chains, draws=cfg.draws, tune=cfg.tune, ss=ss, progress=progress,
                     target_accept=float(cfg.target_accept), cores=cores or min(cfg.chains, 2))
