"""Exact inversion: ``encode`` (data to noise), ``decode`` (noise to data) and ``sample``.

``encode`` lifts ``x0`` (``Y = x0/κ``, docs/mathematics.md §4.3), starts the reversible
state at the data end with ``ŷ = y`` and runs the sampler's *inverse* steps
(:func:`revsde.sdeint_inverse`) back to the noise end; the state there, with
the configuration, is a :class:`~revsde.diffusion.latents.Latents`.  ``decode``
runs the *forward* steps (:func:`revsde.sdeint`) from that state on the same
grid with the same Brownian path and maps back with ``κ``; the algebraic
inverse makes the round trip exact up to round-off.

**Exact mode** (``exact=True``, docs/mathematics.md §7): ζ = 1 and the core's ``quantum``
option put every increment on the fixed-point grid ``q·Z``, so both directions
add and subtract the very same numbers and the lifted round trip is bit-exact
for any number of steps (with a deterministic model).  The quantum is chosen
from the schedule and the grid, never from the data: with ``R = data_range``
and the noise bound ``Z = NOISE_BOUND``,
``B = max_n (α_n R + σ_n Z)/κ_n`` over the grid bounds ``|Y|`` a priori, and
``q = 2^(E-50)`` with ``B < 2^E``, so ``B/q < 2^50`` and float64 sums of grid
values up to ``8B`` are exact.  ``x0/κ`` itself is off the grid: the latents
keep the residual ``x0/κ - quantize(x0/κ)`` (exactly representable), and the
residual ``x0 - κ·(x0/κ)`` of the final multiplication, so ``decode`` returns
``x0`` bit for bit.  Exact mode computes in float64.

**State precision** (docs/mathematics.md §4.6).  The reversible state is kept in
``dtype``, by default float64 whenever the model has a network with tensors
(whatever its own dtype: float32, float16 or bfloat16); the network is fed a
cast of the state (:meth:`DiffusionModel.network_dtype`).  The lifted SDE state
is badly scaled (the encoded latent of an SDE sampler reaches 1e6-1e8 on a
trained network), so a float32 state loses the inverse; a float64 one keeps
the round trip at the network's round-off.  Exactness also needs a
deterministic network: on a GPU call ``torch.use_deterministic_algorithms(True)``
(and set ``CUBLAS_WORKSPACE_CONFIG=:4096:8``), and decode with the same network
dtype and device kind as encode.

**Reproducibility** (docs/howto-invert.md).  Each sample's Brownian path comes from
``(seed, key)`` with its own key (``keys=``, default its index in the batch;
:class:`revsde.brownian.Seeds`), and by default (``reproducible=True``) the network
is evaluated one sample at a time with one intra-op thread and deterministic kernels
(:mod:`.reproducible`): a sample's latent is then the same alone, in any batch, at
any position and in any process.  The latents record the run's fingerprint (torch
version, device kind, CPU instruction set, dtypes, mode); ``decode`` runs in the
stored mode and warns, with the expected size of the error, under another
fingerprint.

**Model identity.**  The latents record the SHA-256 of the model's weights
(:meth:`DiffusionModel.fingerprint`) and the network dtype; ``decode`` with
other weights or another network dtype is refused.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any, cast

import torch

from ...brownian import Seeds, check_keys
from ...solvers.compensated import SPLITTERS
from ..checks import (
    Picture,
    check_channels,
    check_cond,
    check_data,
    check_data_tensor,
    check_encode_options,
    check_float_dtype,
    check_model,
    check_seed_or_none,
    check_shape,
    check_steps,
    check_tensor,
    draw_seed,
)
from ..models import DiffusionModel
from ..samplers import (
    AdaptiveRexSampler,
    Encoded,
    RexSampler,
    Sampler,
    get_encoder,
    get_sampler,
)
from ..schedules import coordinates as co
from ..schedules import time_grid
from ..schedules.base import NoiseSchedule
from .latents import Latents, LatentsFileError, tensor_fingerprint
from .reproducible import (
    Evaluation,
    evaluated,
    evaluating,
    evaluation_of,
    fingerprint,
    for_model,
    mismatch,
)

__all__ = ["encode", "decode", "decode_state", "sample", "exact_quantum", "NOISE_BOUND",
           "model_fingerprint", "state_dtype", "latents_of", "DEFAULT_SAMPLER", "DEFAULT_STEPS",
           "DEFAULT_GRID", "EXACT_SAMPLER", "EXACT_OPTIONS"]

#: encode's defaults: the best latent per network evaluation among the exact samplers,
#: measured against a converged encoding (``benchmarks/bench_inversion.py``'s fidelity
#: table, docs/howto-invert.md): reversible Heun with exponential weights on the
#: data-prediction PF-ODE (its default case ``ode_x0``), 50 steps (51 network
#: evaluations), equal steps in λ
DEFAULT_SAMPLER = "rev_heun_exp"
DEFAULT_STEPS = 50
DEFAULT_GRID = "uniform_lambda"
#: exact mode's default (``rev_heun_exp`` has none): the best latent per network evaluation
#: of the samplers with a fixed-point grid, reversible Heun on the noise-prediction PF-ODE
EXACT_SAMPLER = "rev_heun"
EXACT_OPTIONS: dict[str, Any] = {"case": "ode_eps"}

#: A-priori bound on the noise part of ``x_t = α_t x̂0 + σ_t ε̂`` used to choose the
#: exact-mode quantum (a standard normal exceeds 64 with probability ~1e-890).
NOISE_BOUND = 64.0
#: ``B/q < 2^_EXACT_BITS``: float64 has 53 bits, which leaves a factor 8 of headroom.
_EXACT_BITS = 50


# -- helpers ------------------------------------------------------------------------
def _version() -> str:
    from ... import __version__

    return __version__


def model_fingerprint(model: DiffusionModel) -> str | None:
    """SHA-256 of the model's weights (``model.fingerprint()``, ``net.fingerprint()``),
    else of a ``net.config`` dict; ``None`` for a model with neither (an oracle)."""
    import hashlib
    import json

    for obj in (model, getattr(model, "net", None)):
        fp = getattr(obj, "fingerprint", None)
        if callable(fp):
            out = fp()
            if out is not None:
                return str(out)
    config = getattr(getattr(model, "net", None), "config", None)
    if isinstance(config, dict):
        blob = json.dumps(dict(config), sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()
    return None


def _param_info(model):
    for p in list(model.parameters()) + list(model.buffers()):
        if p.is_floating_point():
            return p.dtype, p.device
    return None, None


def state_dtype(model: DiffusionModel, like: torch.Tensor,
                dtype: torch.dtype | None = None) -> torch.dtype:
    """The dtype of the reversible state: ``dtype`` if given; else float64 when the model's
    network has tensors (it then runs in its own dtype, fed a cast), except on devices
    without float64 (MPS: float32); else (oracles) ``like``'s dtype."""
    if dtype is not None:
        if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
            raise TypeError(f"dtype must be a floating torch.dtype (e.g. torch.float64); got "
                            f"{dtype!r}")
        return dtype
    if getattr(model, "network_dtype", None) is None:
        return like.dtype
    return torch.float32 if like.device.type == "mps" else torch.float64


def _dtype_name(dtype) -> str | None:
    return None if dtype is None else str(dtype).replace("torch.", "")


def _check_input(model, x: torch.Tensor, name: str) -> torch.Tensor:
    x = check_tensor(x, name, min_dim=2, finite=True)
    pdtype, pdevice = _param_info(model)
    if pdevice is not None and pdevice != x.device:
        raise ValueError(f"{name} is on {x.device} but the model is on {pdevice}; move one of "
                         "them (x.to(device) or model.to(device))")
    net = model.net
    shape = getattr(net, "sample_shape", None) or getattr(net, "event_shape", None)
    if shape is None and torch.is_tensor(getattr(net, "images", None)):
        shape = tuple(net.images.shape[1:])
    if shape is not None and tuple(x.shape[1:]) != tuple(shape):
        raise ValueError(f"{name} has sample shape {tuple(x.shape[1:])} but the model expects "
                         f"{tuple(shape)}")
    return x


def exact_quantum(model: DiffusionModel | NoiseSchedule, ts: torch.Tensor, case: str,
                  data_range: float = 1.0) -> float:
    """The exact-mode quantum ``q = 2^(E-50)``, ``B < 2^E``, ``B = max (α R + σ Z)/κ``
    (docs/mathematics.md §7).

    Depends on the schedule, the grid, the lifted case and the declared data
    range only, never on the data.
    """
    if not (isinstance(data_range, (int, float)) and data_range > 0
            and math.isfinite(data_range)):
        raise ValueError(f"data_range must be a positive number (a bound on |x0|); got "
                         f"{data_range!r}")
    ts = torch.as_tensor(ts, dtype=torch.float64)
    sch = cast(NoiseSchedule, getattr(model, "schedule", model))  # a model or its schedule
    bound = (sch.alpha(ts) * data_range + sch.sigma(ts) * NOISE_BOUND) / co.kappa(sch, case, ts)
    b = float(bound.max())
    if not (b > 0 and math.isfinite(b)):
        raise ValueError(f"the lifted state bound is {b} on this grid; exact mode needs a "
                         "finite grid (check the schedule's t_min/t_max)")
    _, e = math.frexp(b)  # b < 2**e
    return math.ldexp(1.0, e - _EXACT_BITS)


def _grid(model, steps, grid):
    return time_grid(model.schedule, check_steps(steps), grid)


#: encode's re-tries with a coarser automatic exact-mode quantum
_EXACT_RETRIES = 3


def _worst(ys, state) -> float:
    return max(float(ys.abs().max()), *(float(t.abs().max()) for t in state[:2]))


def _coarser_quantum(q: float, ys, state) -> float | None:
    """``None`` if the exact-mode solve stayed within the grid's range (``2^53 q``); else a
    quantum four times coarser than the range the solve reached needs."""
    worst = _worst(ys, state)
    if not math.isfinite(worst):
        return 2.0 * q  # the re-try fails the same way and raises
    if worst < math.ldexp(q, 53):
        return None
    _, e = math.frexp(worst)  # worst < 2**e
    return math.ldexp(1.0, e - _EXACT_BITS + 2)


def _check_range(s: RexSampler, q: float, ys, state):
    limit = math.ldexp(q, 53)
    worst = _worst(ys, state)
    if worst >= limit:
        raise ValueError(
            f"exact mode: the lifted state reached {worst:.3g}, beyond the fixed-point range "
            f"{limit:.3g} of quantum {q!r}, so the sums are no longer exact. Either the data "
            "exceed data_range (pass a larger one, or a larger quantum=) or the solve is "
            f"unstable (case {s.case!r}; the sde_eps case is, see docs/diffusion.md)"
        )


def _exact_sampler(s: Sampler) -> RexSampler:
    """``s``, refused unless it has an exact mode (a fixed-point grid: a Rex sampler)."""
    if not isinstance(s, RexSampler):
        raise ValueError(f"{s.name} has no exact mode (exact=True): it has no fixed-point "
                         "grid; use rev_heun or a rex_* sampler")
    return s


# -- encode / decode ----------------------------------------------------------------
def encode(model: DiffusionModel, x0: torch.Tensor, steps: int = DEFAULT_STEPS,
           sampler: str | Sampler | None = None, seed: int | None = 0,
           grid: str = DEFAULT_GRID, cond: dict | None = None, verify: bool = False,
           exact: bool = False,
           dtype: torch.dtype | None = None, data_range: float = 1.0, check_range: bool = True,
           keys: Sequence[int] | None = None, reproducible: bool | Evaluation = True,
           **options: object) -> Latents:
    """Encode data ``x0`` (batch, ...) to :class:`Latents` with a reversible sampler.

    Args:
        model: a :class:`~revsde.diffusion.DiffusionModel`.
        x0: the data, shape ``(batch, ...)``, on the model's device (any floating dtype).
        steps: number of solver steps (NFE = steps × ``nfe_per_step``; default 50).
        sampler: a reversible registry name (``rex_*``, ``rev_heun*``) or a baseline;
            default :data:`DEFAULT_SAMPLER` (``rev_heun_exp``, case ``ode_x0``), in exact
            mode :data:`EXACT_SAMPLER` with :data:`EXACT_OPTIONS` (``rev_heun``, case
            ``ode_eps``): the most faithful latent per network evaluation
            (docs/howto-invert.md).
        seed: Brownian seed (SDE samplers; ignored by ODE samplers).
        grid: time-grid kind (``uniform_lambda``, ``uniform_t``, ``karras``).
        cond: conditioning keyword arguments for the model.
        verify: decode at once and store the max abs round-trip error in
            ``latents.verify_error``.
        exact: bit-exact mode (docs/mathematics.md §7): ζ = 1 and a schedule-derived quantum;
            computes in float64 and needs ``|x0| <= data_range``.
        dtype: the reversible state's dtype (``x0`` is converted); default float64
            for a model with a network (which runs in its own dtype, fed a cast),
            ``x0.dtype`` for an oracle (:func:`state_dtype`).
        data_range: bound on ``|x0|`` used to pick the exact-mode quantum.
        check_range: refuse data outside the model's declared ``data_range``
            (pictures in [0, 255] or [0, 1] for a [-1, 1] model) and another
            channel count (:func:`revsde.diffusion.checks.check_data`).  A picture from
            :func:`revsde.app.images.load_picture` (a :class:`~revsde.diffusion.checks.
            Picture`) is checked by how it was read, its file's bit depth, not by a
            guess from its values: a bright picture is accepted.
        keys: one integer key per sample (default ``0 .. batch-1``): an SDE sampler's
            sample ``i`` follows the Brownian path of ``(seed, keys[i])``, so a sample
            encoded with the same key gives the same latent alone, in any batch, at any
            position (:func:`revsde.brownian.key_of` makes one from a name).  Kept in
            ``latents.keys``.
        reproducible: ``True`` (default): the network is evaluated one sample at a time,
            with one intra-op thread and deterministic kernels, so a sample's latent does
            not depend on its batch or the thread count; ``False``: the whole batch at
            once with torch's thread count (faster, batch-dependent bits); or an
            :class:`~revsde.diffusion.inversion.reproducible.Evaluation`.  Recorded in
            ``latents.run`` with the run's fingerprint; decode uses the same mode.
        **options: sampler options (``case``, ``zeta``, ``quantum``, ``compensated``:
            default ``True`` outside exact mode, so that the lifted state is carried as
            ``hi + lo`` pairs and the decode rebuilds the network's inputs bit for bit,
            docs/mathematics.md §4.6); a baseline name
            (``ddim``, ``edict``, ``bdia``, ``obelm``) takes the baseline's options.
    """
    model = check_model(model)
    # how the picture was read (its file's bit depth), taken before any conversion makes
    # it a plain tensor: the range check then does not guess from the values
    read_range = x0.data_range if isinstance(x0, Picture) else None
    data_range = check_encode_options(exact=exact, verify=verify, check_range=check_range,
                                      data_range=data_range)
    if sampler is None:
        sampler = EXACT_SAMPLER if exact else DEFAULT_SAMPLER
        if exact:
            options = {**EXACT_OPTIONS, **options}
    steps, cond, seed = check_steps(steps), check_cond(model, cond), check_seed_or_none(seed)
    mode = for_model(model, evaluation_of(reproducible))
    codec = getattr(model, "autoencoder", None)  # latent diffusion (adapters): pictures in,
    if codec is not None:  # encoded in the VAE's own dtype; the inversion runs on the latents
        x0 = _codec(codec.encode, x0, mode)
    check_data_tensor(x0, "x0")
    x_dtype = x0.dtype
    # (in exact mode without its quantum: a user's quantum= with the default zeta would be
    # refused before exact mode sets zeta = 1)
    probe = get_encoder(sampler, **{k: v for k, v in options.items()
                                    if not (exact and k == "quantum")})
    if exact:
        _exact_sampler(probe)
        if dtype is not None and dtype != torch.float64:
            raise ValueError(f"exact mode computes in float64 (its fixed-point grid needs 50 "
                             f"bits); got dtype={dtype}")
        dtype = torch.float64
        if options.get("zeta", 1.0) != 1.0:
            raise ValueError(f"exact mode needs zeta=1 (purely additive updates); got "
                             f"zeta={options['zeta']}")
    elif probe.wide_state or dtype is not None:
        dtype = state_dtype(model, x0, dtype)
    if dtype is not None:
        x0 = x0.to(dtype)
    x0 = _check_input(model, x0, "x0")
    if check_range and codec is None:
        check_data(model, x0, "x0", read_range=read_range)
    ts = _grid(model, steps, grid)
    if (not exact and isinstance(sampler, str) and "compensated" not in options
            and "compensated" in probe.options and x0.dtype in SPLITTERS):
        # docs/mathematics.md §4.6: the inverse sees the forward's inputs
        options["compensated"] = True
    if exact:
        if not float(x0.abs().max()) <= data_range:
            raise ValueError(f"x0 has values up to {float(x0.abs().max()):.4g} but "
                             f"data_range={data_range}; pass a data_range that bounds |x0|")
        if "zeta" in probe.options:
            options["zeta"] = 1.0
        auto_quantum = options.get("quantum") is None
        if auto_quantum:
            options["quantum"] = exact_quantum(model, ts, _exact_sampler(probe).case,
                                               data_range)
    s = get_encoder(sampler, **options)
    if s.stochastic:
        if seed is None:
            raise ValueError(f"{s.name} is stochastic: encode needs an integer seed for its "
                             "Brownian path")
    else:
        seed = None
    ids = tuple(range(x0.shape[0])) if keys is None else check_keys(keys, x0.shape[0])
    net = evaluated(model, mode)
    for attempt in range(_EXACT_RETRIES + 1):
        with evaluating(mode):
            enc = _encode_state(s, net, x0, ts, None if seed is None else Seeds(seed, ids),
                                cond)
        residual = x_residual = None
        if not exact:
            break
        rex = _exact_sampler(s)
        y = co.to_lifted(model.schedule, rex.case, x0, ts[-1])
        start = enc.start[0] if enc.start else y
        residual = y - start  # exact: |y - quantize(y)| <= q/2 and both on y's binade
        x_residual = x0 - co.from_lifted(model.schedule, rex.case, start + residual, ts[-1])
        q = float(rex.quantum or 0.0)
        coarser = _coarser_quantum(q, enc.ys, enc.state)
        if coarser is None:
            break
        if not auto_quantum or attempt == _EXACT_RETRIES:
            _check_range(rex, q, enc.ys, enc.state)  # raises, saying what to change
            break
        # The a-priori bound does not hold: an SDE sampler's encode of a real picture on a
        # trained network reaches latents of 1e4-1e8 (docs/diffusion.md). Widen the grid
        # to what the solve reached (stored in the latents' options) and encode again.
        options["quantum"] = coarser
        s = get_encoder(sampler, **options)
    lat = latents_of(model, s, enc, ts, x0, x_dtype=x_dtype, grid={"kind": grid, "steps": steps},
                     cond=cond, seed=seed, exact=exact, data_range=data_range,
                     residual=residual, x_residual=x_residual, keys=ids, mode=mode)
    if verify:
        x_rec = _decode_data(model, lat, cond, None, {})  # latent space with an autoencoder
        err = (x_rec.to(torch.float64) - x0.to(torch.float64)).abs().reshape(x0.shape[0], -1)
        lat.verify_error = float(err.max())
        lat.extra["verify_errors"] = [float(e) for e in err.amax(1)]
    return lat


def _encode_state(s: Sampler, model: DiffusionModel, x0: torch.Tensor, ts: torch.Tensor,
                  seeds: Seeds | None, cond: dict | None) -> Encoded:
    """``s.encode_state`` with per-sample keys (a Rex sampler; the others are ODEs)."""
    if isinstance(s, RexSampler):
        return s.encode_state(model, x0, ts, seed=seeds, cond=cond)
    return s.encode_state(model, x0, ts, seed=None if seeds is None else seeds.seed, cond=cond)


def _noise_of(latents: Latents) -> Seeds | None:
    """The noise seeds of stored latents: per-sample keys, or for a file of format version 1
    (``brownian.kind == "grid"``) the one path of the whole batch."""
    if latents.seed is None:
        return None
    keyed = isinstance(latents.brownian, dict) and latents.brownian.get("kind") == "keyed_grid"
    if keyed and latents.keys is None:
        raise ValueError("these latents have per-sample noise but no keys; they are "
                         "inconsistent (re-encode)")
    return Seeds(latents.seed, tuple(latents.keys) if keyed and latents.keys else None)


def latents_of(model: DiffusionModel, s: Sampler, enc: Encoded, ts: torch.Tensor,
               x: torch.Tensor, *, x_dtype: torch.dtype, grid: dict, cond: dict | None,
               seed: int | None = None, exact: bool = False, data_range: float | None = None,
               residual: torch.Tensor | None = None,
               x_residual: torch.Tensor | None = None, keys: Sequence[int] | None = None,
               mode: Evaluation | None = None) -> Latents:
    """The :class:`Latents` of sampler ``s``'s encoding ``enc`` of ``x`` (in the state's
    dtype; ``x_dtype``: the caller's) on the grid ``ts``; ``keys``: the samples' noise keys
    (default ``0 .. batch-1``); ``mode``: how the network was evaluated (recorded with
    the run's fingerprint; ``None``: batched)."""
    ids = list(range(x.shape[0])) if keys is None else list(keys)
    mode = evaluation_of(False if mode is None else mode)
    extra: dict[str, Any] = {
        "network_dtype": _dtype_name(getattr(model, "network_dtype", None))}
    if enc.decode_nfe is not None:
        extra["decode_nfe"] = enc.decode_nfe
    if getattr(model, "pipeline_record", None):  # from_pipeline: the prompts and guidance
        extra["pipeline"] = dict(model.pipeline_record)  # type: ignore[arg-type]
    return Latents(
        state=tuple(enc.state), ts=ts, sampler=s.name, options=dict(s.options),
        schedule=model.schedule.to_dict(), prediction=model.prediction, seed=seed,
        brownian=s.brownian_spec(x, seed), keys=ids, run=fingerprint(model, x, mode),
        dtype=str(x.dtype).replace("torch.", ""),
        x_dtype=str(x_dtype).replace("torch.", ""), grid=grid, exact=bool(exact),
        data_range=float(data_range) if exact and data_range is not None else None,
        residual=residual,
        x_residual=x_residual, model_fingerprint=model_fingerprint(model),
        cond_fingerprint=tensor_fingerprint(cond) if cond else None, nfe=int(enc.nfe),
        base=s.base, library_version=_version(), extra=extra, accepted=enc.grid,
    )


def _check_config(model, lat: Latents, sampler, options, cond):
    if not isinstance(lat, Latents):
        raise TypeError(f"latents must be a revsde.diffusion.Latents (from encode or "
                        f"Latents.load); got {type(lat).__name__}")
    if model.schedule.to_dict() != lat.schedule:
        raise ValueError(
            f"the model's schedule {model.schedule!r} differs from the one these latents were "
            f"encoded with ({lat.schedule.get('type')}: "
            f"{ {k: v for k, v in lat.schedule.items() if k != 'alphas_cumprod'} }); decode "
            "with the encoding model"
        )
    if model.prediction != lat.prediction:
        raise ValueError(f"the model predicts {model.prediction!r} but the latents were encoded "
                         f"with a {lat.prediction!r}-prediction model; decode with that model")
    stored = lat.extra.get("network_dtype") if isinstance(lat.extra, dict) else None
    here = _dtype_name(getattr(model, "network_dtype", None))
    if stored is not None and here is not None and stored != here:
        raise ValueError(f"these latents were encoded with the network in {stored}, but this "
                         f"model's network runs in {here}: decode with the same network dtype "
                         f"(e.g. pretrained(name, dtype=torch.{stored}) or model.to(torch."
                         f"{stored}))")
    says = getattr(model, "conditioning_error", None)  # from_pipeline: which prompt differs
    message = says(lat.extra.get("pipeline")) if callable(says) and isinstance(
        lat.extra, dict) else None
    if message:
        raise ValueError(message)
    fp = model_fingerprint(model)
    if lat.model_fingerprint is not None and fp != lat.model_fingerprint:
        raise ValueError(
            f"the model's weights differ from the ones that encoded these latents (weights "
            f"fingerprint {str(fp)[:12]}... here, {lat.model_fingerprint[:12]}... stored): "
            "decode with the model, weights and dtype that encoded them")
    if sampler is not None:
        name = sampler if isinstance(sampler, str) else getattr(sampler, "name", sampler)
        if name != lat.sampler:
            raise ValueError(f"these latents were encoded with sampler {lat.sampler!r}, not "
                             f"{name!r}; decode with the stored sampler (omit sampler=)")
    for k, v in options.items():
        if lat.options.get(k, object()) != v:
            raise ValueError(f"these latents were encoded with {k}={lat.options.get(k)!r}, "
                             f"not {k}={v!r}; decode with the stored options (omit {k}=)")
    if lat.cond_fingerprint is not None or cond:
        if (tensor_fingerprint(cond) if cond else None) != lat.cond_fingerprint:
            raise ValueError("decode needs the same conditioning (cond=) as encode; the "
                             "conditioning differs from the one stored")
    if lat.library_version and lat.library_version != _version():
        warnings.warn(f"latents written by revsde {lat.library_version}, decoding with "
                      f"{_version()}: bit-exactness is only guaranteed with the same version",
                      stacklevel=3)


def _stored_sampler(model: DiffusionModel, latents: Latents, cond, sampler,
                    options) -> Sampler:
    """The sampler that encoded ``latents``, once the model, conditioning, device and
    noise path are checked against what they record."""
    _check_config(model, latents, sampler, options, check_cond(model, cond))
    s = get_encoder(latents.sampler, **latents.options)
    y = latents.y
    _, pdevice = _param_info(model)
    if pdevice is not None and pdevice != y.device:
        raise ValueError(f"the latents are on {y.device} but the model is on {pdevice}; use "
                         f"latents.to({str(pdevice)!r})")
    noise = _noise_of(latents)
    spec = (s.brownian_spec(y, noise) if isinstance(s, RexSampler)
            else s.brownian_spec(y, latents.seed))
    if spec != latents.brownian:
        raise ValueError(f"the stored Brownian spec {latents.brownian} does not match what "
                         f"sampler {s.name!r} needs ({spec}); the latents are inconsistent")
    return s


def _stored_mode(model: DiffusionModel, latents: Latents,
                 reproducible: bool | Evaluation | None, s: Sampler) -> Evaluation:
    """The evaluation mode of a decode: the stored one unless ``reproducible`` is given;
    warns when the run's fingerprint differs from the stored one."""
    stored = latents.run if isinstance(latents.run, dict) else None
    if reproducible is not None:
        mode = for_model(model, evaluation_of(reproducible))
    elif stored is not None:
        mode = Evaluation.from_dict(stored)
    else:  # latents of format version 1: encoded batched
        mode = evaluation_of(False)
    if stored is not None:
        why = mismatch(stored, fingerprint(model, latents.y, mode), s.stochastic)
        if why is not None:
            warnings.warn(why, stacklevel=4)
    return mode


def decode_state(model: DiffusionModel, latents: Latents, *, cond: dict | None = None,
                 sampler: str | Sampler | None = None,
                 reproducible: bool | Evaluation | None = None, **options) -> tuple:
    """The full state at the data end (``ts[-1]``) from the stored noise-end state (lifted
    for a Rex sampler, in data coordinates for a baseline).

    ``sampler`` and ``options`` may be given only to assert that they match the
    stored ones; ``reproducible`` as in :func:`decode`.
    """
    model = check_model(model)
    s = _stored_sampler(model, latents, cond, sampler, options)
    mode = _stored_mode(model, latents, reproducible, s)
    with evaluating(mode):
        return _decode(s, evaluated(model, mode), latents, cond, state_only=True)


def _decode(s: Sampler, model: DiffusionModel, latents: Latents, cond: dict | None, *,
            state_only: bool = False) -> Any:
    """``s.decode_state`` or ``s.decode`` of the stored state, with the stored noise."""
    noise = _noise_of(latents)
    residual = latents.residual if latents.exact else None
    if isinstance(s, AdaptiveRexSampler):  # the encode's accepted grid, replayed
        if state_only:
            return s.decode_state(model, latents.state, latents.ts, cond=cond,
                                  grid=latents.accepted)
        return s.decode(model, latents.state, latents.ts, cond=cond, residual=residual,
                        grid=latents.accepted)
    if isinstance(s, RexSampler):
        if state_only:
            return s.decode_state(model, latents.state, latents.ts, seed=noise, cond=cond)
        return s.decode(model, latents.state, latents.ts, seed=noise, cond=cond,
                        residual=residual)
    if state_only:
        return s.decode_state(model, latents.state, latents.ts, seed=latents.seed, cond=cond)
    return s.decode(model, latents.state, latents.ts, seed=latents.seed, cond=cond,
                    residual=residual)


def decode(model: DiffusionModel, latents: Latents, *, cond: dict | None = None,
           sampler: str | Sampler | None = None,
           reproducible: bool | Evaluation | None = None, **options) -> torch.Tensor:
    """Decode :class:`Latents` to data ``x0`` with the stored grid, sampler and Brownian path.

    Raises a clear error if the model (schedule, prediction, config fingerprint),
    the conditioning, or an explicitly passed ``sampler`` / option differs from
    the stored configuration.  A latent diffusion model (with an ``autoencoder``,
    :func:`revsde.diffusion.from_diffusers`) returns pictures.  The network is run as
    at the encode (``latents.run``: micro-batch, threads, deterministic kernels) unless
    ``reproducible`` says otherwise; a decode under another run fingerprint (torch
    version, device kind, CPU instruction set, mode) warns with the expected error.
    """
    x = _decode_data(model, latents, cond, sampler, options, reproducible)
    codec = getattr(model, "autoencoder", None)
    if codec is None:
        return x
    mode = (evaluation_of(reproducible) if reproducible is not None or latents.run is None
            else Evaluation.from_dict(latents.run))
    return _codec(codec.decode, x, mode)


def _codec(fn: Any, x: torch.Tensor, mode: Evaluation) -> torch.Tensor:
    """An autoencoder's ``encode`` / ``decode`` of ``x`` as ``mode`` runs a network: in
    micro-batches, with its threads and deterministic kernels."""
    size = mode.micro_batch
    with evaluating(mode):
        if size is None or x.shape[0] <= size:
            return fn(x)
        return torch.cat([fn(x[a:a + size].clone()) for a in range(0, x.shape[0], size)])


def _decode_data(model, latents: Latents, cond, sampler, options,
                 reproducible: bool | Evaluation | None = None) -> torch.Tensor:
    model = check_model(model)
    s = _stored_sampler(model, latents, cond, sampler, options)
    mode = _stored_mode(model, latents, reproducible, s)
    with evaluating(mode):
        x = _decode(s, evaluated(model, mode), latents, cond)
    if latents.exact:
        if latents.x_residual is None:
            raise LatentsFileError("exact-mode latents without their x residual: the file is "
                                   "incomplete; encode again")
        x = x + latents.x_residual
    return x.to(getattr(torch, latents.x_dtype))


# -- generation -----------------------------------------------------------------------
def sample(model: DiffusionModel, x_T: torch.Tensor | Sequence[int] | None = None, steps: int = 50,
           sampler: str | Sampler = "rex_rk4", seed: int | None = None, *,
           grid: str = "uniform_lambda", cond: dict | None = None,
           dtype: torch.dtype | None = None, **options) -> torch.Tensor:
    """Generate data from noise.

    ``x_T`` is a noise tensor at ``ts[0]`` (for a reversible sampler the start
    state is ``y = ŷ = x_T/κ``), or a shape ``(batch, ...)``: then
    ``x_T = σ_{t_max} z`` with ``z ~ N(0, I)`` drawn from ``seed`` (in ``dtype``,
    default the model's parameter dtype or float32).  ``seed`` also seeds the
    Brownian path of the SDE samplers.  Any registry sampler works.
    """
    model = check_model(model)
    s = get_sampler(sampler, **options)
    ts = _grid(model, steps, grid)
    cond, dtype, seed = check_cond(model, cond), check_float_dtype(dtype), check_seed_or_none(seed)
    if isinstance(x_T, (Sequence, torch.Size)) and not torch.is_tensor(x_T):
        shape = check_shape(x_T)
        pdtype, pdevice = _param_info(model)
        dtype = dtype or pdtype or torch.float32
        gen = torch.Generator(device=pdevice or "cpu")
        gen.manual_seed(draw_seed(seed))
        z = torch.randn(shape, generator=gen, dtype=dtype, device=pdevice)
        x_T = model.schedule.sigma(ts[0]).to(dtype) * z
    elif x_T is None:
        raise ValueError("sample needs x_T: a noise tensor (batch, ...) or a shape tuple")
    else:
        check_data_tensor(x_T, "x_T")
        if dtype is not None:
            x_T = x_T.to(dtype)
        x_T = _check_input(model, x_T, "x_T")
    check_channels(model, x_T, "x_T")
    return s.sample(model, x_T, ts, seed=seed, cond=cond)
