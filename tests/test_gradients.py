"""revsde.diffusion.gradient: methods registry, exactness, AdjointDEIS orders, errors."""

import sys
from pathlib import Path

import pytest
import torch

from revsde.diffusion import get_sampler, time_grid
from revsde.diffusion.gradients import GradientError, gradient, list_gradient_methods

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "scripts"))
import gen_gradient_numbers as G  # noqa: E402  (the Gaussian problem, shared with the docs)

F64 = torch.float64
METHODS = ("reversible", "adjointdeis-1", "adjointdeis-2m", "adjointdeis-vp1", "adjointdeis-vp2m",
           "adjointdeis-lin1", "adjointdeis-lin2m", "adjointdeis-lin2s", "adjointdeis-linvp1",
           "adjointdeis-linvp2s", "backprop", "greedy")


def rel(a, b):
    return float((a - b).norm() / b.norm())


# -- a Gaussian model with a differentiable mean (cond) and scale (param), docs/mathematics.md §9:
# the same problem and error measure as the order table of docs/guided-generation.md
SCH = G.SCH
GaussianEps, exact_gaussian, _fit = G.GaussianEps, G.exact_gaussian, G.fit_order


@pytest.fixture(scope="module")
def gaussian():
    return G.gaussian_problem(SCH)


ORDER_CASES = [
    # (sampler, sde, method, expected order, steps)
    ("rev_heun", False, "adjointdeis-1", 1.0, (16, 32, 64)),
    ("rev_heun", False, "adjointdeis-2m", 2.0, (16, 32, 64)),
    ("rev_heun_sde", True, "adjointdeis-1", 1.0, (32, 64, 128)),
    ("rev_heun_sde", True, "adjointdeis-2m", 2.0, (32, 64, 128)),
    # exact VP weights (docs/mathematics.md §8.2, §8.3): the cond and parameter adjoints too
    ("rev_heun", False, "adjointdeis-vp1", 1.0, (16, 32, 64)),
    ("rev_heun_sde", True, "adjointdeis-vp2m", 2.0, (32, 64, 128)),
    # the linear part exact (docs/mathematics.md §8.4), cond and params too (x_T from 16 SDE
    # steps: tests/test_gradients_vp.py; μ's error, far smaller than vp2m's, settles later)
    ("rev_heun", False, "adjointdeis-lin1", 1.0, (16, 32, 64)),
    ("rev_heun_sde", True, "adjointdeis-lin2m", 2.0, (64, 128, 256)),
    # its single-step Heun form (docs/mathematics.md §8.6)
    ("rev_heun", False, "adjointdeis-lin2s", 2.0, (16, 32, 64)),
    ("rev_heun_sde", True, "adjointdeis-lin2s", 2.0, (32, 64, 128)),
    # the VP factor in the weight (docs/mathematics.md §8.7); x_T's error, 20x below -lin1's
    # at 16 steps, reaches order 1 from 32 (the rev_heun states' own error shows before)
    ("rev_heun", False, "adjointdeis-linvp1", 1.0, (32, 64, 128)),
    ("rev_heun_sde", True, "adjointdeis-linvp2s", 2.0, (32, 64, 128)),
]


@pytest.mark.parametrize("sampler,sde,method,order,steps", ORDER_CASES)
def test_adjoint_deis_order_on_gaussian(gaussian, sampler, sde, method, order, steps):
    """Fitted order of the gradient error against the exact gradient of the exact flow."""
    errs = G.gaussian_errors(gaussian, sampler, sde, method, steps)
    tol = 0.2 if order == 1.0 else 0.3
    # the SDE's ∂/∂s depends on the path: gaussian_errors leaves it out
    assert set(errs) == ({"x_T", "mu"} if sde else {"x_T", "mu", "log_s"})
    for k, e in errs.items():
        assert abs(_fit(steps, e) - order) < tol, (k, e)


def test_vp2m_cond_and_param_gradients_on_gaussian(gaussian):
    """adjointdeis-vp2m (docs/mathematics.md §8.3): the cond μ and parameter log s gradients
    converge at order 2; x_T's is near exact on this linear problem (faster than order 2, so
    no fitted order for it) and only bounded."""
    model, net, x_T, mu, w = gaussian
    steps, errs = (32, 64, 128), {"x_T": [], "mu": [], "log_s": []}
    for n in steps:
        r = gradient(lambda x0: (w * x0).sum(), model, x_T, cond={"mu": mu},
                     params=[net.log_s], steps=n, sampler="rev_heun", method="adjointdeis-vp2m")
        gx, gmu, gs = exact_gaussian(net, x_T, mu, w, time_grid(SCH, n, "uniform_lambda"),
                                     False)
        errs["x_T"].append(rel(r.grad_x_T, gx))
        errs["mu"].append(rel(r.grad_cond["mu"], gmu))
        errs["log_s"].append(float(abs(r.grad_params[0] - gs) / abs(gs)))
    assert max(errs["x_T"]) < 1e-3
    for k in ("mu", "log_s"):
        assert abs(_fit(steps, errs[k]) - 2.0) < 0.3, (k, errs[k])


# -- exactness on the trained digits model -------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    case = G.digits_case()  # the case the docs' exactness figures are measured on
    yield case
    G.release(case)


@pytest.mark.parametrize("sampler", ["rev_heun_sde", "rex_em", "rex_shark"])
def test_compensated_sde_samplers_match_backprop_to_round_off(digits, sampler):
    """Compensated SDE samplers (hi + lo states, rebuilt bit for bit by the inverse): the
    reversible gradients equal backpropagation's to round-off in float64 (plain sums lose
    the lifted state's low bits: 1e-10 to 1e-8 there)."""
    model, params, x_T, label, target = digits

    def loss(x0):
        return ((x0 - target) ** 2).mean() + torch.tanh(x0).sum() * 1e-2

    s = get_sampler(sampler, compensated=True)
    r, b = (gradient(loss, model, x_T, cond={"label": label}, params=params, steps=8,
                     sampler=s, seed=11, method=m) for m in ("reversible", "backprop"))
    assert torch.equal(r.sample, b.sample)
    for got, want in ((r.grad_x_T, b.grad_x_T), (r.grad_cond["label"], b.grad_cond["label"]),
                      *zip(r.grad_params, b.grad_params)):
        assert rel(got, want) <= 1e-12


@pytest.mark.parametrize("sampler", ["rev_heun", "rev_heun_sde", "rex_em"])
def test_reversible_matches_backprop_on_trained_model(digits, sampler):
    model, params, x_T, label, target = digits

    def loss(x0):
        return ((x0 - target) ** 2).mean() + torch.tanh(x0).sum() * 1e-2

    out = {m: gradient(loss, model, x_T, cond={"label": label}, params=params, steps=8,
                       sampler=sampler, seed=11, method=m) for m in ("reversible", "backprop")}
    r, b = out["reversible"], out["backprop"]
    assert torch.equal(r.sample, b.sample)
    assert rel(r.grad_x_T, b.grad_x_T) <= 1e-8
    assert rel(r.grad_cond["label"], b.grad_cond["label"]) <= 1e-8
    for gr, gb in zip(r.grad_params, b.grad_params):
        assert gb.norm() > 0 and rel(gr, gb) <= 1e-8
    # the gradient is not trivially shared with a wrong one: greedy differs
    g = gradient(loss, model, x_T, cond={"label": label}, steps=8, sampler=sampler, seed=11,
                 method="greedy")
    assert rel(g.grad_x_T, b.grad_x_T) > 1e-3


def test_adjoint_deis_approaches_the_exact_gradient_on_trained_model(digits):
    """On the digits model, AdjointDEIS-2M at 32 steps is closer to the exact gradient than at 8."""
    model, _, x_T, label, target = digits

    def loss(x0):
        return ((x0 - target) ** 2).mean()

    errs = []
    for n in (8, 32):
        kw = dict(cond={"label": label}, steps=n, sampler="rev_heun")
        ref = gradient(loss, model, x_T, method="reversible", **kw)
        adj = gradient(loss, model, x_T, method="adjointdeis-2m", **kw)
        assert torch.equal(adj.sample, ref.sample)
        errs.append(rel(adj.grad_x_T, ref.grad_x_T))
    assert errs[1] < 0.5 * errs[0]


def test_greedy_is_the_gradient_at_the_tweedie_estimate(gaussian):
    model, net, x_T, mu, w = gaussian
    r = gradient(lambda x0: (w * x0 ** 2).sum(), model, x_T, cond={"mu": mu}, steps=4,
                 method="greedy")
    x = x_T.clone().requires_grad_()
    x0_hat = model.x0(x, float(SCH.t_max), mu=mu)
    (g,) = torch.autograd.grad((w * x0_hat ** 2).sum(), x)
    assert rel(r.grad_x_T, g) < 1e-12
    assert r.nfe is not None and r.nfe == 4 + 1 + 1  # rev_heun init + 4 steps, then x0_hat


def test_registry_metadata():
    info = {m["name"]: m for m in list_gradient_methods()}
    assert tuple(info) == METHODS
    assert info["adjointdeis-1"]["order"] == 1.0 and info["adjointdeis-2m"]["order"] == 2.0
    assert info["reversible"]["memory"] == "O(1)" and info["backprop"]["memory"] == "O(N)"
    assert info["reversible"]["exact"] and not info["greedy"]["exact"]
    for m in info.values():
        assert m["description"] and m["nfe_per_step"]


# -- clear errors ------------------------------------------------------------------------
def test_errors(gaussian):
    model, net, x_T, mu, w = gaussian
    loss = lambda x0: (w * x0).sum()  # noqa: E731
    with pytest.raises(GradientError, match="scalar"):
        gradient(lambda x0: x0 * w, model, x_T, cond={"mu": mu}, steps=2)
    with pytest.raises(GradientError, match="does not require grad"):
        gradient(loss, model, x_T, cond={"mu": mu}, params=[mu.clone()], steps=2)
    with pytest.raises(GradientError, match="prediction"):
        gradient(loss, model, x_T, cond={"mu": mu}, steps=2, method="adjointdeis-1",
                 prediction="x0")
    with pytest.raises(GradientError, match="not reversible"):
        gradient(loss, model, x_T, cond={"mu": mu}, steps=2, method="adjointdeis-2m",
                 sampler="ddim")
    with pytest.raises(GradientError, match="not reversible"):
        gradient(loss, model, x_T, cond={"mu": mu}, steps=2, method="reversible",
                 sampler="dpmpp_2m")
    with pytest.raises(GradientError, match="seed"):
        gradient(loss, model, x_T, cond={"mu": mu}, steps=2, sampler="rev_heun_sde")
    with pytest.raises(GradientError, match="valid ones"):
        gradient(loss, model, x_T, cond={"mu": mu}, steps=2, method="adjoint")
    with pytest.raises(GradientError, match="dict"):
        gradient(loss, model, x_T, cond=mu, steps=2)
    with pytest.raises(GradientError, match="does not depend"):
        gradient(lambda x0: w.sum(), model, x_T, cond={"mu": mu}, steps=2)


def test_backprop_accepts_a_reference_sampler(gaussian):
    """backprop differentiates any sampler; through DDIM (first order) its error falls ~4x
    from 16 to 64 steps."""
    model, net, x_T, mu, w = gaussian
    errs = []
    for n in (16, 64):
        r = gradient(lambda x0: (w * x0).sum(), model, x_T, cond={"mu": mu}, steps=n,
                     sampler="ddim", method="backprop")
        gx, gmu, _ = exact_gaussian(net, x_T, mu, w, time_grid(SCH, n, "uniform_lambda"), False)
        errs.append((rel(r.grad_x_T, gx), rel(r.grad_cond["mu"], gmu)))
    assert errs[1][0] < 0.35 * errs[0][0] and errs[1][1] < 0.35 * errs[0][1]
