"""The diffusion model: a network plus its schedule and prediction type.

:class:`DiffusionModel` wraps ``net(x, t, **cond)`` (``t`` a 1-D tensor of
shape ``(batch,)`` in ``x``'s dtype and device) and converts its output to the
noise prediction ``ε``, the data prediction ``x0``, the v-prediction, the
flow velocity or the score (docs/mathematics.md §4.1).  Conditioning keyword arguments are
passed through to ``net`` untouched.

**Network precision** (docs/mathematics.md §4.6).  The network runs in its own dtype
(:attr:`DiffusionModel.network_dtype`: its parameters' dtype, or ``net_dtype``
when set), whatever the dtype of the state that calls it: a float64 reversible
state is fed to a float32, float16 or bfloat16 network as a cast (``x``, ``t``
and floating conditioning tensors), and the output is cast back to the state's
dtype before the conversions below, which run in the state's dtype.  So the
solver's state never loses precision, and an exact inverse evaluates the network
on the same bits as the forward pass as long as the wider state rounds to the
same network input.

**Weights fingerprint.**  :meth:`DiffusionModel.fingerprint` is the SHA-256 of
the network's own tensors (every floating parameter and buffer: dtype, shape and
raw bytes, in ``state_dict`` order), not of a config: the inversion API stores
it in the latents and refuses to decode with other weights.

The network must accept the schedule's continuous time ``t``.  A network
trained on discrete indices needs an adapter (for :class:`VPDiscrete`,
``schedule.timestep_of_t(t)`` gives the index ``t·N - 1``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch

from .schedules import FlowMatching, NoiseSchedule, TimeLike, as_time

__all__ = ["DiffusionModel", "PREDICTIONS", "batch_time", "per_sample", "weights_fingerprint"]

PREDICTIONS = ("eps", "x0", "v", "flow")


def batch_time(t: TimeLike, x: torch.Tensor) -> torch.Tensor:
    """``t`` (python float, 0-d or ``(batch,)`` tensor) as a ``(batch,)`` tensor like ``x``."""
    t = as_time(t).to(device=x.device, dtype=x.dtype)
    if t.dim() == 0:
        return t.expand(x.shape[0])
    if t.dim() != 1 or t.shape[0] != x.shape[0]:
        raise ValueError(
            f"t must be a scalar or a 1-D tensor of shape (batch,) = ({x.shape[0]},); "
            f"got shape {tuple(t.shape)}"
        )
    return t


def weights_fingerprint(module: torch.nn.Module) -> str | None:
    """SHA-256 of a module's floating tensors (dtype, shape and bytes, ``state_dict`` order).

    ``None`` when it has none (a plain callable, an oracle).  Names are left out,
    so a network and the same network wrapped (``VToEps``, ``DiffusionModel``)
    have the same fingerprint, and the one a weight file records matches the
    loaded model's in the file's dtype.
    """
    state = module.state_dict() if isinstance(module, torch.nn.Module) else {}
    tensors = [v for v in state.values() if torch.is_tensor(v) and v.is_floating_point()]
    if not tensors:
        return None
    h = hashlib.sha256()
    for v in tensors:
        v = v.detach().to("cpu").contiguous()
        h.update(f"{str(v.dtype).replace('torch.', '')}{tuple(v.shape)};".encode())
        h.update(v.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _cast_cond(v, dtype):
    """Floating tensors (also inside dicts, lists and tuples) cast to ``dtype``."""
    if torch.is_tensor(v):
        return v.to(dtype) if v.is_floating_point() else v
    if isinstance(v, dict):
        return {k: _cast_cond(w, dtype) for k, w in v.items()}
    if isinstance(v, (list, tuple)):
        return type(v)(_cast_cond(w, dtype) for w in v)
    return v


def per_sample(c: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Reshape a scalar or ``(batch,)`` coefficient to broadcast against ``x``."""
    c = c.to(device=x.device, dtype=x.dtype)
    if c.dim() == 0:
        return c
    return c.reshape(c.shape + (1,) * (x.dim() - 1))


class DiffusionModel(torch.nn.Module):
    """``net`` with a schedule and a prediction type in {"eps", "x0", "v", "flow"}.

    * ``"eps"``: ``net`` predicts the noise ε;
    * ``"x0"``: the data ``x0 = (x - σ ε)/α``;
    * ``"v"``: ``v = α ε - σ x0`` (Salimans & Ho 2022);
    * ``"flow"``: the velocity ``u = dx/dt = ε - x0`` for α = 1-t, σ = t
      (needs a :class:`FlowMatching` schedule).

    ``net`` may be an ``nn.Module`` (its parameters become this module's) or
    any callable ``net(x, t, **cond)``.
    """

    # Set on the shipped models by :func:`revsde.diffusion.pretrained.pretrained` (absent
    # otherwise: read them with ``getattr(model, name, None)``).
    image_shape: tuple[int, ...]
    channels: int
    data_range: tuple[float, ...]
    pretrained_name: str

    def __init__(self, net: Callable[..., torch.Tensor], schedule: NoiseSchedule,
                 prediction: str = "eps"):
        super().__init__()
        if not callable(net):
            raise TypeError(f"net must be callable as net(x, t, **cond); got {type(net).__name__}")
        if not isinstance(schedule, NoiseSchedule):
            raise TypeError(
                "schedule must be a revsde.diffusion.schedules.NoiseSchedule (e.g. VPLinear()); "
                f"got {type(schedule).__name__}"
            )
        if prediction not in PREDICTIONS:
            raise ValueError(f"unknown prediction {prediction!r}; valid ones are {PREDICTIONS}")
        if prediction == "flow" and not isinstance(schedule, FlowMatching):
            raise ValueError(
                "prediction='flow' needs a FlowMatching schedule (α = 1-t, σ = t); got "
                f"{type(schedule).__name__}. Use prediction 'eps', 'x0' or 'v' instead."
            )
        self.net = net
        self.schedule = schedule
        self.prediction = prediction
        #: the network's dtype when set; ``None``: the dtype of its floating parameters
        self.net_dtype = None

    @property
    def network_dtype(self) -> torch.dtype | None:
        """The dtype the network computes in (``net_dtype``, else its first floating
        parameter's or buffer's); ``None`` for a network without tensors (oracles),
        which then runs in the caller's dtype."""
        if self.net_dtype is not None:
            return self.net_dtype
        for p in self.parameters():
            if p.is_floating_point():
                return p.dtype
        for b in self.buffers():
            if b.is_floating_point():
                return b.dtype
        return None

    def fingerprint(self) -> str | None:
        """SHA-256 of the network's weights (:func:`weights_fingerprint`); ``None`` if none."""
        return weights_fingerprint(self)

    def _net(self, x, tb, **cond):
        """``net(x, t, **cond)`` in the network's dtype, cast back to ``x``'s dtype."""
        return self.run_net(x, tb, cond, self.network_dtype)

    def run_net(self, x: torch.Tensor, tb: torch.Tensor, cond: dict,
                dtype: torch.dtype | None) -> torch.Tensor:
        """``net(x, tb, **cond)`` run in ``dtype`` (``None``: ``x``'s), cast back to ``x``'s.

        For callers that read :attr:`network_dtype` once per solve (the lifted drift):
        it walks the model's tensors, so it is not looked up per evaluation there.
        """
        if dtype is None or dtype == x.dtype:
            return self.net(x, tb, **cond)
        out = self.net(x.to(dtype), tb.to(dtype), **_cast_cond(cond, dtype))
        return out.to(x.dtype)

    def net_for_solve(self) -> Callable[[torch.Tensor, torch.Tensor, dict], torch.Tensor]:
        """``call(x, tb, cond)``: the network as :meth:`_net` runs it, with the network's
        dtype read once, now (a solve reads it once, not at every evaluation; a model
        whose class runs its network itself keeps its own ``_net``)."""
        if type(self)._net is not DiffusionModel._net:
            return lambda x, tb, cond: self._net(x, tb, **cond)
        dtype = self.network_dtype
        if type(self).run_net is not DiffusionModel.run_net:
            return lambda x, tb, cond: self.run_net(x, tb, cond, dtype)
        net = self.net  # read once: a submodule attribute is a slow lookup per evaluation

        def call(x: torch.Tensor, tb: torch.Tensor, cond: dict) -> torch.Tensor:
            if dtype is None or dtype == x.dtype:  # run_net's own fast case
                return net(x, tb, **cond)
            return self.run_net(x, tb, cond, dtype)

        return call

    def _coefs(self, x, t):
        tb = batch_time(t, x)
        a, s = self.schedule.alpha_sigma(tb)
        return tb, per_sample(a, x), per_sample(s, x)

    def forward(self, x: torch.Tensor, t: TimeLike, **cond) -> torch.Tensor:
        """The raw network output at ``(x, t)``."""
        return self._net(x, batch_time(t, x), **cond)

    def eps_and_x0(self, x: torch.Tensor, t: TimeLike, **cond) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ε, x0)`` from one network evaluation (docs/mathematics.md §4.1 conversions)."""
        tb, a, s = self._coefs(x, t)
        return self.convert(x, self._net(x, tb, **cond), a, s)

    def convert(self, x: torch.Tensor, out: torch.Tensor, a: torch.Tensor,
                s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(ε, x0)`` from the raw network output ``out`` at ``x``, with ``a = α_t`` and
        ``s = σ_t`` shaped to broadcast against ``x`` (docs/mathematics.md §4.1 conversions)."""
        p = self.prediction
        if p == "eps":
            return out, (x - s * out) / a
        if p == "x0":
            return (x - a * out) / s, out
        if p == "v":
            # [x; v] = [[α, σ], [-σ, α]] [x0; ε]  (v = α ε - σ x0)
            n = a * a + s * s
            return (s * x + a * out) / n, (a * x - s * out) / n
        # flow: x = (1-t) x0 + t ε, u = ε - x0  =>  x0 = x - σ u, ε = x + α u
        return x + a * out, x - s * out

    def eps(self, x: torch.Tensor, t: TimeLike, **cond) -> torch.Tensor:
        """Noise prediction ε_θ(x, t)."""
        if self.prediction == "eps":
            return self._net(x, batch_time(t, x), **cond)
        return self.eps_and_x0(x, t, **cond)[0]

    def x0(self, x: torch.Tensor, t: TimeLike, **cond) -> torch.Tensor:
        """Data prediction x_θ = (x - σ ε_θ)/α (docs/mathematics.md §4.1)."""
        if self.prediction == "x0":
            return self._net(x, batch_time(t, x), **cond)
        return self.eps_and_x0(x, t, **cond)[1]

    def v(self, x: torch.Tensor, t: TimeLike, **cond) -> torch.Tensor:
        """v-prediction v = α ε - σ x0 (docs/mathematics.md §4.1)."""
        if self.prediction == "v":
            return self._net(x, batch_time(t, x), **cond)
        _, a, s = self._coefs(x, t)
        e, d = self.eps_and_x0(x, t, **cond)
        return a * e - s * d

    def score(self, x: torch.Tensor, t: TimeLike, **cond) -> torch.Tensor:
        """Score ∇ log p_t(x) = -ε/σ."""
        _, _, s = self._coefs(x, t)
        return -self.eps(x, t, **cond) / s

    def extra_repr(self) -> str:
        return f"schedule={self.schedule!r}, prediction={self.prediction!r}"
