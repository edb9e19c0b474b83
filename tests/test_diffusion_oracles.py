"""Oracles with known answers (docs/mathematics.md §9) and the model wrapper's conversions
(docs/mathematics.md §4.1)."""

import numpy as np
import pytest
import torch

from revsde.diffusion.models import DiffusionModel
from revsde.diffusion.oracles import GaussianMixtureOracle, GaussianOracle, IdealDenoiser
from revsde.diffusion.schedules import VE, FlowMatching, VPCosine, VPLinear, VPScaledLinear

F64 = torch.float64


def _mixture(schedule, shape=(2,), prediction="eps"):
    g = torch.Generator().manual_seed(3)
    means = torch.randn((3, *shape), generator=g, dtype=F64)
    return GaussianMixtureOracle([0.2, 0.5, 0.3], means, [0.3, 0.15, 0.5], schedule, prediction)


SCHEDS = [VPLinear(), VPCosine(), VPScaledLinear(), VE(), FlowMatching()]


@pytest.mark.parametrize("shape", [(2,), (2, 3, 3)])
@pytest.mark.parametrize("schedule", SCHEDS, ids=lambda s: type(s).__name__)
def test_mixture_eps_is_autograd_score(schedule, shape):
    orc = _mixture(schedule, shape)
    g = torch.Generator().manual_seed(0)
    for u in (0.05, 0.4, 0.9):
        t = schedule.t_min + u * (schedule.t_max - schedule.t_min)
        x = orc.sample(8, g, t=t).requires_grad_(True)
        (score,) = torch.autograd.grad(orc.log_prob(x, t).sum(), x)
        sigma = schedule.sigma(torch.tensor(t, dtype=F64))
        eps = orc.eps(x.detach(), t)
        assert torch.allclose(eps, -sigma * score, rtol=1e-10, atol=1e-12)
        assert torch.allclose(orc.score(x.detach(), t), score, rtol=1e-10, atol=1e-12)
        # Tweedie: x0* = (x - σ ε*)/α
        alpha = schedule.alpha(torch.tensor(t, dtype=F64))
        assert torch.allclose(orc.x0(x.detach(), t), (x.detach() - sigma * eps) / alpha,
                              rtol=1e-9, atol=1e-10)


def test_gaussian_eps_is_autograd_score_and_matches_formula():
    sch = VPLinear()
    mu = torch.tensor([0.5, -1.0, 2.0], dtype=F64)
    orc = GaussianOracle(mu, 0.7, sch)
    x = orc.sample(5, torch.Generator().manual_seed(1), t=0.3).requires_grad_(True)
    (score,) = torch.autograd.grad(orc.log_prob(x, 0.3).sum(), x)
    t = torch.tensor(0.3, dtype=F64)
    a, s = sch.alpha(t), sch.sigma(t)
    formula = s * (x.detach() - a * mu) / (a * a * 0.49 + s * s)
    assert torch.allclose(orc.eps(x.detach(), 0.3), formula, rtol=1e-14)
    assert torch.allclose(orc.eps(x.detach(), 0.3), -s * score, rtol=1e-12)


def _rk4_pf_ode(orc, schedule, x, t0, t1, steps):
    """Fine RK4 solve of dx/dt = f x + g²/(2σ) ε, f = dlogα/dt, g² = -2σ² dλ/dt
    (docs/mathematics.md §4.1)."""

    def coefs(t):
        tt = torch.tensor(t, dtype=F64, requires_grad=True)
        (dla,) = torch.autograd.grad(schedule.log_alpha(tt), tt)
        tt = torch.tensor(t, dtype=F64, requires_grad=True)
        (dlam,) = torch.autograd.grad(schedule.lambda_(tt), tt)
        sig = schedule.sigma(torch.tensor(t, dtype=F64))
        return dla, -2 * sig * sig * dlam, sig

    def rhs(t, y):
        f, g2, sig = coefs(t)
        return f * y + g2 / (2 * sig) * orc.eps(y, t)

    h = (t1 - t0) / steps
    t = t0
    for _ in range(steps):
        k1 = rhs(t, x)
        k2 = rhs(t + h / 2, x + h / 2 * k1)
        k3 = rhs(t + h / 2, x + h / 2 * k2)
        k4 = rhs(t + h, x + h * k3)
        x = x + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        t = t + h
    return x


@pytest.mark.parametrize("schedule", [VPLinear(), VPCosine(), VE(0.002, 5.0)],
                         ids=lambda s: type(s).__name__)
def test_gaussian_pf_ode_map_matches_rk4(schedule):
    mu = torch.tensor([0.3, -0.8], dtype=F64)
    orc = GaussianOracle(mu, torch.tensor([0.5, 1.3], dtype=F64), schedule)
    t0, t1 = schedule.t_max, 0.05 * schedule.t_max
    x = orc.sample(4, torch.Generator().manual_seed(2), t=t0)
    exact = orc.pf_ode_map(x, t0, t1)
    num = _rk4_pf_ode(orc, schedule, x, t0, t1, 400)
    assert torch.allclose(num, exact, rtol=1e-8, atol=1e-9)
    # the invariant, and the round trip of the map
    assert torch.allclose(orc.pf_ode_map(exact, t1, t0), x, rtol=1e-13, atol=1e-13)


def test_exact_samples_have_right_moments():
    sch = VPLinear()
    g = torch.Generator().manual_seed(5)
    orc = GaussianOracle(torch.tensor([1.0, -2.0], dtype=F64), 0.5, sch)
    x = orc.sample(40000, g)
    assert torch.allclose(x.mean(0), orc.mu, atol=0.02)
    assert torch.allclose(x.std(0), torch.full((2,), 0.5, dtype=F64), atol=0.02)
    xt = orc.sample(40000, g, t=0.5)
    t = torch.tensor(0.5, dtype=F64)
    var = sch.alpha(t) ** 2 * 0.25 + sch.sigma(t) ** 2
    assert torch.allclose(xt.var(0), var.expand(2), rtol=0.05)
    mix = _mixture(sch)
    y = mix.sample(40000, g)
    mean = (mix.weights[:, None] * mix.means).sum(0)
    assert torch.allclose(y.mean(0), mean, atol=0.03)


@pytest.mark.parametrize("dtype", [torch.float32, F64])
def test_oracles_follow_input_dtype(dtype):
    sch = VPLinear()
    mix = _mixture(sch)
    gau = GaussianOracle(torch.zeros(2), 1.0, sch)
    x = torch.randn(6, 2, dtype=dtype)
    t = torch.linspace(0.1, 0.9, 6, dtype=dtype)
    for orc in (mix, gau):
        for fn in (orc.eps, orc.x0, orc):
            out = fn(x, t)
            assert out.dtype == dtype and out.shape == x.shape
            ref = fn(x.double(), t.double())
            assert torch.allclose(out.double(), ref, rtol=1e-4, atol=1e-5)


def _images(size=32):
    skimage = pytest.importorskip("skimage")
    from skimage import color, data
    from skimage.transform import resize

    imgs = [data.camera(), color.rgb2gray(data.astronaut()), color.rgb2gray(data.coffee()),
            color.rgb2gray(data.chelsea()), data.moon()]
    out = []
    for im in imgs:
        im = resize(np.asarray(im, dtype=np.float64), (size, size), anti_aliasing=True)
        im = (im - im.min()) / (im.max() - im.min())
        out.append(2.0 * im - 1.0)
    del skimage
    return torch.tensor(np.stack(out)[:, None], dtype=F64)  # (M, 1, H, W)


def test_ideal_denoiser_recovers_images():
    imgs = _images()
    sch = VPLinear()
    den = IdealDenoiser(imgs, sch)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(imgs.shape, generator=g, dtype=F64)
    t = torch.tensor(0.02, dtype=F64)
    xt = sch.alpha(t) * imgs + sch.sigma(t) * z
    out = den.x0(xt, t)
    assert torch.allclose(out, imgs, atol=1e-10)
    # ε is consistent with x0 and matches the true noise
    assert torch.allclose(den.eps(xt, t), z, atol=1e-8)
    # chunked (online softmax) = one-shot softmax, at a time where weights are mixed
    t = torch.tensor(0.9, dtype=F64)
    xt = sch.alpha(t) * imgs[[1, 3]] + sch.sigma(t) * z[:2]
    small = IdealDenoiser(imgs, sch, max_elements=1)
    d = ((xt[:, None] - sch.alpha(t) * imgs[None]) ** 2).flatten(2).sum(-1)
    w = torch.softmax(-d / (2 * sch.sigma(t) ** 2), dim=1)
    brute = torch.einsum("bm,mchw->bchw", w, imgs)
    assert torch.allclose(small.x0(xt, t), brute, rtol=1e-12, atol=1e-13)
    assert torch.allclose(den.x0(xt, t), brute, rtol=1e-12, atol=1e-13)
    # float32 works and stays close
    out32 = den.x0(xt.float(), t.float())
    assert out32.dtype == torch.float32
    assert torch.allclose(out32.double(), brute, atol=1e-4)


def test_ideal_denoiser_any_shape():
    sch = VE()
    imgs = torch.randn(7, 3, 4, 5, dtype=F64)
    den = IdealDenoiser(imgs, sch, max_elements=100)
    x = imgs[[2, 5]] + 1e-3 * torch.randn(2, 3, 4, 5, dtype=F64)
    assert torch.allclose(den(x, 0.003), imgs[[2, 5]], atol=1e-12)
    with pytest.raises(ValueError, match="sample shape"):
        den(torch.randn(2, 3, 4, 4, dtype=F64), 0.1)


# -- model wrapper -------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", SCHEDS, ids=lambda s: type(s).__name__)
def test_prediction_conversions_round_trip(schedule):
    orc = _mixture(schedule, (3,))
    base = DiffusionModel(orc, schedule, "eps")
    x = orc.sample(6, torch.Generator().manual_seed(4), t=0.5 * schedule.t_max)
    t = torch.linspace(schedule.t_min * 2, schedule.t_max * 0.9, 6, dtype=F64)
    eps, x0, v = base.eps(x, t), base.x0(x, t), base.v(x, t)
    nets = {"eps": lambda x_, t_: eps, "x0": lambda x_, t_: x0, "v": lambda x_, t_: v}
    if isinstance(schedule, FlowMatching):
        nets["flow"] = lambda x_, t_: eps - x0
    for pred, net in nets.items():
        m = DiffusionModel(net, schedule, pred)
        assert torch.allclose(m.eps(x, t), eps, rtol=1e-9, atol=1e-10), pred
        assert torch.allclose(m.x0(x, t), x0, rtol=1e-9, atol=1e-10), pred
        assert torch.allclose(m.v(x, t), v, rtol=1e-9, atol=1e-10), pred
    # the oracle in each prediction type agrees with the conversions
    for pred in ("x0", "v"):
        other = DiffusionModel(_mixture(schedule, (3,), pred), schedule, pred)
        assert torch.allclose(other.eps(x, t), eps, rtol=1e-9, atol=1e-10)
    a = schedule.alpha(t)[:, None]
    s = schedule.sigma(t)[:, None]
    assert torch.allclose(v, a * eps - s * x0, rtol=1e-12, atol=1e-12)
    assert torch.allclose(base.score(x, t), -eps / s, rtol=1e-12)


def test_flow_velocity_is_dx_dt():
    sch = FlowMatching()
    x0 = torch.randn(4, 2, dtype=F64)
    e = torch.randn(4, 2, dtype=F64)
    t = 0.37
    xt = (1 - t) * x0 + t * e
    m = DiffusionModel(lambda x_, t_: e - x0, sch, "flow")
    assert torch.allclose(m.x0(xt, t), x0, atol=1e-14)
    assert torch.allclose(m.eps(xt, t), e, atol=1e-14)


def test_wrapper_passes_time_and_conditioning():
    seen = {}

    def net(x, t, **cond):
        seen["t"], seen["cond"] = t, cond
        return torch.zeros_like(x)

    m = DiffusionModel(net, VPLinear(), "eps")
    x = torch.randn(3, 2, dtype=torch.float32)
    label = torch.tensor([1, 2, 3])
    for t in (0.5, torch.tensor(0.5, dtype=F64), torch.full((3,), 0.5)):
        m.eps(x, t, label=label)
        assert seen["t"].shape == (3,) and seen["t"].dtype == torch.float32
        assert seen["cond"]["label"] is label
    with pytest.raises(ValueError, match="shape"):
        m.eps(x, torch.ones(2))
    with pytest.raises(ValueError, match="valid ones"):
        DiffusionModel(net, VPLinear(), "score")
    with pytest.raises(ValueError, match="FlowMatching"):
        DiffusionModel(net, VPLinear(), "flow")


def test_wrapper_registers_module_parameters():
    lin = torch.nn.Linear(2, 2)
    m = DiffusionModel(lambda x, t: lin(x), VPLinear())
    assert len(list(m.parameters())) == 0
    m2 = DiffusionModel(_Net(), VPLinear())
    assert len(list(m2.parameters())) == 2


class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(2, 2)

    def forward(self, x, t):
        return self.lin(x) * t[:, None]
