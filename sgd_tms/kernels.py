"""Optimisers and samplers as BlackJAX-style kernels over plain tensors.

A kernel is a pair ``init(position) -> State`` and ``step(rng, state, batch=None) ->
(State, Info)``; positions are tuples of tensors (here ``(W, b)``, batched over leading dims),
states and infos are NamedTuples, and nothing passed in is mutated. SGD, momentum, Adam and SGLD
share this contract, so :func:`run_steps` drives all of them.

Every kernel takes a ``grad_fn(position, batch) -> (loss, grads)`` where ``grads`` is a tuple
shaped like ``position`` and ``loss`` may be None (not computed).
"""

from __future__ import annotations

__all__ = [
    "Kernel", "StepInfo", "SGDState", "MomentumState", "AdamState", "SGLDState", "SGLDInfo",
    "sgd", "momentum", "adam", "sgld", "run_steps", "KeyedNoise", "mix64",
]

import math
from typing import Any, Callable, Iterable, NamedTuple

import torch

from comparisons.errors import InputError, check_positive_float

Position = tuple  # tuple of tensors

# splitmix64 constants as signed int64 (torch has no uint64 arithmetic; products wrap mod 2^64)
_GOLDEN = 0x9E3779B97F4A7C15 - 2**64
_MIX1 = 0xBF58476D1CE4E5B9 - 2**64
_MIX2 = 0x94D049BB133111EB - 2**64
_LOW26 = (1 << 26) - 1


def _shift_right(x: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 bit patterns (``>>`` on int64 is arithmetic)."""
    return (x >> s) & ((1 << (64 - s)) - 1)


def mix64(x: torch.Tensor) -> torch.Tensor:
    """The splitmix64 finaliser on int64 tensors: a bijective, well-mixing 64-bit hash.

    Parameters
    ----------
    x : Tensor of int64, any shape
        Bit patterns (read as unsigned 64-bit integers).

    Returns
    -------
    Tensor of int64, same shape
    """
    x = (x ^ _shift_right(x, 30)) * _MIX1
    x = (x ^ _shift_right(x, 27)) * _MIX2
    return x ^ _shift_right(x, 31)


class KeyedNoise:
    """Counter-based Gaussian noise: each chain's noise is a pure function of its key and step.

    A ``torch.Generator`` hands out numbers in call order, so the noise a chain receives depends
    on how many other chains share its tensor program (chunks of checkpoints, blocks of runs).
    Here the noise of element ``e`` of parameter ``i`` of the chain with key ``k`` at step ``t``
    is ``BoxMuller(mix64(mix64(k + (8 t + i) golden) + (e + 1) golden))`` (the hash's low and
    high 26 bits are the two uniforms, so ``|z| < 6.1``: a tail of probability 1e-9 is cut), the
    same whatever is batched beside it.

    Parameters
    ----------
    keys : Tensor of int64, shape (...)
        One key per chain; the leading shape of every position tensor it is used with.

    Examples
    --------
    >>> import torch
    >>> noise = KeyedNoise.from_ids(0, torch.arange(3))
    >>> a = noise.normal(5, 0, (3, 2), torch.float64, "cpu")
    >>> b = KeyedNoise.from_ids(0, torch.arange(1, 2)).normal(5, 0, (1, 2), torch.float64, "cpu")
    >>> bool(torch.equal(a[1:2], b))
    True
    """

    def __init__(self, keys: torch.Tensor) -> None:
        if keys.dtype != torch.int64:
            raise InputError(f"keys: expected an int64 tensor, got {keys.dtype}")
        self.keys = keys

    @classmethod
    def from_ids(cls, seed: int, *ids: torch.Tensor) -> "KeyedNoise":
        """Keys from a root ``seed`` and integer id tensors (broadcast together), e.g. (run, step, chain)."""
        key = mix64(torch.tensor(int(seed), dtype=torch.int64) * _GOLDEN + 1)
        for part in ids:
            key = mix64((key ^ mix64(torch.as_tensor(part, dtype=torch.int64) + 1)) * _GOLDEN)
        return cls(key)

    def reshape(self, *shape: int) -> "KeyedNoise":
        """The same keys with another leading shape (e.g. ``(R, T, K) -> (R, T * K)``)."""
        return KeyedNoise(self.keys.reshape(*shape))

    def normal(self, step: int, index: int, shape: tuple, dtype: torch.dtype, device) -> torch.Tensor:
        """Standard normal noise of ``shape`` (leading dims: the keys' shape) for ``(step, index)``."""
        lead = tuple(self.keys.shape)
        if tuple(shape[:len(lead)]) != lead:
            raise InputError(f"noise shape: expected leading dims {lead}, got {tuple(shape)}")
        m = math.prod(shape[len(lead):])
        keys = self.keys.to(device)
        counter = torch.tensor(8 * int(step) + int(index), dtype=torch.int64, device=device)
        base = mix64(keys + counter * _GOLDEN)
        ctr = torch.arange(1, m + 1, dtype=torch.int64, device=device) * _GOLDEN
        h = mix64(base.unsqueeze(-1) + ctr)  # (..., m): 64 bits per element, two 26-bit uniforms
        work = torch.float64 if dtype == torch.float64 else torch.float32
        u1 = ((h & _LOW26).to(work) + 0.5) * 2.0**-26
        u2 = (_shift_right(h, 38).to(work) + 0.5) * 2.0**-26
        z = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2 * math.pi) * u2)  # |z| < 6.1
        return z.reshape(shape).to(dtype)


def _gaussian(rng, step: int, index: int, p: torch.Tensor) -> torch.Tensor:
    """Noise shaped like ``p``: from a :class:`KeyedNoise` or a ``torch.Generator``."""
    if isinstance(rng, KeyedNoise):
        return rng.normal(step, index, tuple(p.shape), p.dtype, p.device)
    return torch.randn(p.shape, generator=rng, dtype=p.dtype, device=p.device)
GradFn = Callable[[Position, Any], tuple]


class Kernel(NamedTuple):
    """``init(position) -> State`` and ``step(rng, state, batch=None) -> (State, StepInfo)``."""

    init: Callable
    step: Callable


class StepInfo(NamedTuple):
    """What one step saw: the loss at the position the step started from (or None)."""

    loss: torch.Tensor | None


class SGDState(NamedTuple):
    position: Position
    step: int


class MomentumState(NamedTuple):
    position: Position
    velocity: Position
    step: int


class AdamState(NamedTuple):
    position: Position
    m: Position
    v: Position
    step: int


class SGLDState(NamedTuple):
    """SGLD state; ``loss``/``grads`` cache ``L_n`` and its gradient at ``position`` (filled only
    by a kernel built with ``diagnostics=True``, which evaluates them once per step)."""

    position: Position
    center: Position
    step: int
    loss: torch.Tensor | None = None
    grads: Position | None = None


class SGLDInfo(NamedTuple):
    """What one diagnostic SGLD step saw (every field shaped like the loss: the batch dims).

    Attributes
    ----------
    loss : Tensor
        ``L_n`` at the position the step started from.
    accept : Tensor
        Metropolis-adjusted (MALA) acceptance probability ``min(1, pi(w') q(w | w') /
        (pi(w) q(w' | w)))`` of the step's proposal ``w'`` under the localised tempered target
        ``pi ∝ exp(-n beta L_n - (gamma/2)|w - w*|^2)``; the proposal is always taken (this is
        SGLD), the number measures how far the discretisation is from exact.
    distance : Tensor
        ``|w - w*|`` (all parameters) at the position the step started from.
    """

    loss: torch.Tensor
    accept: torch.Tensor
    distance: torch.Tensor


def _sumsq(tensors, ndim: int) -> torch.Tensor:
    """Sum of squares of each tensor over its dims beyond the first ``ndim`` (batch) dims."""
    total = 0
    for t in tensors:
        total = total + t.square().reshape(*t.shape[:ndim], -1).sum(-1)
    return total


def sgd(grad_fn: GradFn, lr: float) -> Kernel:
    """Plain (minibatch) gradient descent ``w <- w - lr grad L_batch(w)``.

    Examples
    --------
    >>> import torch
    >>> k = sgd(lambda p, batch: (None, (2 * p[0],)), lr=0.25)
    >>> state, _ = k.step(None, k.init((torch.tensor([1.0]),)))
    >>> state.position[0]
    tensor([0.5000])
    """
    lr = check_positive_float("lr", lr)

    def init(position: Position) -> SGDState:
        return SGDState(tuple(position), 0)

    def step(rng, state: SGDState, batch=None):
        loss, grads = grad_fn(state.position, batch)
        pos = tuple(torch.add(p, g, alpha=-lr) for p, g in zip(state.position, grads))
        return SGDState(pos, state.step + 1), StepInfo(loss)

    return Kernel(init, step)


def momentum(grad_fn: GradFn, lr: float, beta: float = 0.9, nesterov: bool = False) -> Kernel:
    """Heavy-ball momentum as in ``torch.optim.SGD(momentum=beta)``: ``v <- beta v + g``, ``w <- w - lr v``."""
    lr = check_positive_float("lr", lr)
    if not 0 <= beta < 1:
        raise InputError(f"momentum: expected 0 <= beta < 1, got {beta!r}")

    def init(position: Position) -> MomentumState:
        return MomentumState(tuple(position), tuple(torch.zeros_like(p) for p in position), 0)

    def step(rng, state: MomentumState, batch=None):
        loss, grads = grad_fn(state.position, batch)
        vel = tuple(beta * v + g for v, g in zip(state.velocity, grads))
        upd = tuple(g + beta * v for g, v in zip(grads, vel)) if nesterov else vel
        pos = tuple(p - lr * u for p, u in zip(state.position, upd))
        return MomentumState(pos, vel, state.step + 1), StepInfo(loss)

    return Kernel(init, step)


def adam(grad_fn: GradFn, lr: float, betas: tuple[float, float] = (0.9, 0.999),
         eps: float = 1e-8) -> Kernel:
    """Adam (Kingma & Ba 2015) with bias correction, as ``torch.optim.Adam`` without weight decay."""
    lr = check_positive_float("lr", lr)
    b1, b2 = betas
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise InputError(f"betas: expected two numbers in [0, 1), got {betas!r}")

    def init(position: Position) -> AdamState:
        z = tuple(torch.zeros_like(p) for p in position)
        return AdamState(tuple(position), z, z, 0)

    def step(rng, state: AdamState, batch=None):
        loss, grads = grad_fn(state.position, batch)
        t = state.step + 1
        m = tuple(b1 * mm + (1 - b1) * g for mm, g in zip(state.m, grads))
        v = tuple(b2 * vv + (1 - b2) * g * g for vv, g in zip(state.v, grads))
        c1, c2 = 1 - b1**t, 1 - b2**t
        pos = tuple(p - lr * (mm / c1) / ((vv / c2).sqrt() + eps)
                    for p, mm, vv in zip(state.position, m, v))
        return AdamState(pos, m, v, t), StepInfo(loss)

    return Kernel(init, step)


def sgld(grad_fn: GradFn, step_size: float, nbeta: float, gamma: float = 1.0,
         noise: float = 1.0, diagnostics: bool = False) -> Kernel:
    """Localised SGLD (Lau et al. 2023, arXiv 2308.12108) around the initial position ``w*``.

    Parameters
    ----------
    grad_fn : callable
        ``(position, batch) -> (loss, grads)`` of the empirical loss ``L_n``.
    step_size : float
        ``epsilon``.
    nbeta : float
        ``n beta``, the inverse temperature times the sample size.
    gamma : float
        Strength of the localising term ``(gamma/2) |w - w*|^2``.
    noise : float
        Scale of the injected noise (1 = Langevin; 0 gives gradient descent on
        ``n beta L_n + (gamma/2)|w - w*|^2`` with rate ``epsilon/2``).
    diagnostics : bool
        If True, ``step`` returns :class:`SGLDInfo` (loss, MALA acceptance of the proposal,
        distance from ``w*``) instead of :class:`StepInfo`. The loss and gradient at the proposal,
        which the acceptance needs, are cached in the state and reused by the next step, so this
        costs one evaluation of ``grad_fn`` per step as before (plus one at ``init``-time on the
        first step); ``grad_fn`` must then return the loss. Same noise stream, same trajectory.

    Notes
    -----
    ``w <- w - (epsilon/2) (n beta grad L_n(w) + gamma (w - w*)) + N(0, noise^2 epsilon)``.
    ``init(position)`` takes ``w* = position``; the info's loss is ``L_n`` at the position the
    step started from, so ``draws`` steps record ``L_n(w_0 = w*), ..., L_n(w_{draws-1})``.
    """
    step_size = check_positive_float("step_size", step_size)
    check_positive_float("nbeta", nbeta)
    check_positive_float("gamma", gamma, allow_zero=True)
    scale = math.sqrt(step_size) * noise

    def init(position: Position) -> SGLDState:
        return SGLDState(tuple(position), tuple(position), 0)

    def step(rng, state: SGLDState, batch=None):
        loss, grads = grad_fn(state.position, batch)
        pos = []
        for i, (p, g, c) in enumerate(zip(state.position, grads, state.center)):
            drift = nbeta * g + gamma * (p - c) if gamma else nbeta * g
            new = p - (step_size / 2) * drift
            if scale:
                new = new + scale * _gaussian(rng, state.step, i, p)
            pos.append(new)
        return SGLDState(tuple(pos), state.center, state.step + 1), StepInfo(loss)

    def potential(pos, loss, grads, center):
        """``U = n beta L_n + (gamma/2)|w - w*|^2`` and its gradient."""
        diffs = [p - c for p, c in zip(pos, center)]
        U = nbeta * loss + (gamma / 2) * _sumsq(diffs, loss.dim()) if gamma else nbeta * loss
        dU = [nbeta * g + gamma * d if gamma else nbeta * g for g, d in zip(grads, diffs)]
        return U, dU, diffs

    def step_diag(rng, state: SGLDState, batch=None):
        if state.grads is None:
            loss, grads = grad_fn(state.position, batch)
        else:
            loss, grads = state.loss, state.grads
        if loss is None:
            raise InputError("grad_fn: expected a loss (diagnostics=True), got None")
        nb = loss.dim()
        U0, dU0, diffs0 = potential(state.position, loss, grads, state.center)
        new = []
        for i, (p, d) in enumerate(zip(state.position, dU0)):
            w = p - (step_size / 2) * d
            if scale:
                w = w + scale * _gaussian(rng, state.step, i, p)
            new.append(w)
        new = tuple(new)
        loss1, grads1 = grad_fn(new, batch)
        U1, dU1, _ = potential(new, loss1, grads1, state.center)
        if scale:
            var2 = 2 * scale**2  # 2 noise^2 epsilon
            fwd = _sumsq([w - p + (step_size / 2) * d for w, p, d in zip(new, state.position, dU0)], nb)
            bwd = _sumsq([p - w + (step_size / 2) * d for w, p, d in zip(new, state.position, dU1)], nb)
            log_a = -(U1 - U0) - (bwd - fwd) / var2
            accept = torch.exp(torch.clamp(torch.nan_to_num(log_a, nan=-float("inf")), max=0.0))
        else:
            accept = torch.full_like(loss, float("nan"))
        info = SGLDInfo(loss, accept, torch.sqrt(_sumsq(diffs0, nb)))
        return SGLDState(new, state.center, state.step + 1, loss1, tuple(grads1)), info

    return Kernel(init, step_diag if diagnostics else step)


def run_steps(kernel: Kernel, state, rng, batches: Iterable, record: bool | str = False):
    """Drive any kernel over ``batches`` (use ``[None] * k`` for full-batch kernels).

    Parameters
    ----------
    record : bool or "info"
        False: record nothing; True: the per-step loss; ``"info"``: every field of the info.

    Returns
    -------
    state
        The final state.
    recorded : Tensor, shape (steps, ...), or Info of such Tensors, or None
        The per-step ``StepInfo.loss`` stacked along a new leading axis when ``record`` is True;
        with ``record="info"`` an info NamedTuple whose every field is stacked so.
    """
    infos = [] if record else None
    step = kernel.step
    for batch in batches:
        state, info = step(rng, state, batch)
        if record:
            infos.append(info if record == "info" else info.loss)
    if not infos:
        return state, None
    if record == "info":
        return state, type(infos[0])(*(torch.stack(f) for f in zip(*infos)))
    return state, torch.stack(infos)
