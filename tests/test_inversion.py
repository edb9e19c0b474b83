"""Exact inversion (encode / decode / Latents) on real images and the ideal denoiser.

The model is the ideal denoiser (docs/mathematics.md §9) of four scikit-image pictures
(camera, astronaut, coffee, chelsea; gray, 16x16, values in [-1, 1]), and the
encoded images are those four.  Tolerances: max abs round-trip error 1e-10 in
float64 and 1e-4 in float32 for every reversible sampler (default case);
exact mode (docs/mathematics.md §7) is bit-exact in the lifted state and returns x0 bit
for bit (asserted as <= 1 ulp).
"""

import math

import pytest
import torch
from diffusion_cases import F32, F64, SCH, TOL
from diffusion_cases import max_err as _err

from revsde.diffusion import (
    DiffusionModel,
    GaussianMixtureOracle,
    IdealDenoiser,
    Latents,
    LatentsFileError,
    LiftedProblem,
    VPCosine,
    VPLinear,
    decode,
    decode_state,
    encode,
    get_sampler,
)
from revsde.diffusion.samplers import reversible_names

REVERSIBLE = reversible_names()
#: the samplers on the grid ``ts`` (an adaptive one's round trips: tests/test_adaptive.py)
ON_GRID = [n for n in REVERSIBLE if not get_sampler(n).adaptive]


def _ulps(a, b):
    """|a - b| in units of the last place of b."""
    up = torch.nextafter(b.abs(), torch.full_like(b, math.inf)) - b.abs()
    return float(((a - b).abs() / up).max())


# -- round trips -----------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("steps", [10, 100])
@pytest.mark.parametrize("name", ON_GRID)
def test_round_trip(model, images, name, steps, dtype):
    x0 = images.to(dtype)
    lat = encode(model, x0, steps=steps, sampler=name, seed=1)
    back = decode(model, lat)
    assert back.dtype == dtype and back.shape == x0.shape
    assert _err(back, x0) <= TOL[dtype], (name, steps, _err(back, x0))
    s = get_sampler(name)
    assert lat.steps == steps and lat.nfe == steps * s.nfe_per_step + s.init_nfe


@pytest.mark.parametrize("name", ["rex_euler", "rex_rk4", "rev_heun"])
def test_round_trip_noise_prediction_case_float64(model, images, name):
    lat = encode(model, images, steps=50, sampler=name, case="ode_eps")
    assert _err(decode(model, lat), images) <= 1e-10


@pytest.mark.slow
@pytest.mark.parametrize("dtype", [F64, F32], ids=["float64", "float32"])
@pytest.mark.parametrize("name", ["rex_rk4", "rev_heun", "rex_shark"])
def test_round_trip_1000_steps(model, images, name, dtype):
    x0 = images.to(dtype)
    lat = encode(model, x0, steps=1000, sampler=name, seed=2)
    assert _err(decode(model, lat), x0) <= TOL[dtype]


# -- exact mode ------------------------------------------------------------------------
def _check_exact(model, x0, name, steps):
    lat = encode(model, x0, steps=steps, sampler=name, seed=3, exact=True)
    assert lat.exact and lat.options["quantum"] is not None
    assert lat.options.get("zeta", 1.0) == 1.0
    s = get_sampler(lat.sampler, **lat.options)
    start = s.data_state(model, x0, lat.ts)
    end = decode_state(model, lat)
    assert all(torch.equal(a, b) for a, b in zip(start, end)), "lifted state not bit-exact"
    # Without the x-space residual the only error is the final multiplication by κ.
    pb = LiftedProblem(model, lat.case)
    assert _ulps(pb.from_lifted(end[0] + lat.residual, lat.ts[-1]), x0) <= 1.0
    back = decode(model, lat)
    assert _ulps(back, x0) <= 1.0
    assert torch.equal(back, x0)
    return lat


@pytest.mark.parametrize("steps", [10, 100, 1000])
@pytest.mark.parametrize("name", ["rex_euler", "rev_heun"])
def test_exact_mode_bit_exact(model, images, name, steps):
    _check_exact(model, images, name, steps)


@pytest.mark.parametrize("steps", [10, 100])
@pytest.mark.parametrize("name", ["rex_rk4", "rex_shark", "rev_heun_sde", "rex_midpoint"])
def test_exact_mode_bit_exact_more_samplers(model, images, name, steps):
    _check_exact(model, images, name, steps)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["rex_rk4", "rex_em"])
def test_exact_mode_bit_exact_1000_steps(model, images, name):
    _check_exact(model, images, name, 1000)


def test_exact_mode_float32_input_comes_back_float32(model, images):
    x0 = images.to(F32)
    lat = encode(model, x0, steps=10, exact=True)
    assert lat.dtype == "float64" and lat.x_dtype == "float32"
    back = decode(model, lat)
    assert back.dtype == F32 and torch.equal(back, x0)


def test_exact_quantum_depends_on_schedule_not_data(model, images):
    # a data-prediction case, whose bound grows with the data range (on the default
    # noise-prediction case the noise term at t_max dominates it)
    a = encode(model, images, steps=10, sampler="rex_rk4", exact=True).options["quantum"]
    b = encode(model, 0.01 * images, steps=10, sampler="rex_rk4", exact=True).options["quantum"]
    c = encode(model, images, steps=10, sampler="rex_rk4", exact=True,
               data_range=8.0).options["quantum"]
    assert a == b and c > a and math.log2(a).is_integer()


def test_encode_defaults(model, images):
    """The measured defaults (docs/howto-invert.md): rev_heun_exp (ode_x0), 50 steps,
    uniform_lambda; in exact mode rev_heun on ode_eps."""
    lat = encode(model, images, reproducible=False)
    assert (lat.sampler, lat.options["case"], lat.grid) == (
        "rev_heun_exp", "ode_x0", {"kind": "uniform_lambda", "steps": 50})
    assert lat.nfe == 51
    ex = encode(model, images, steps=10, exact=True, reproducible=False)
    assert (ex.sampler, ex.options["case"], ex.exact) == ("rev_heun", "ode_eps", True)
    assert torch.equal(decode(model, ex), images)


def test_exact_mode_errors(model, images):
    with pytest.raises(ValueError, match="data_range"):
        encode(model, 3.0 * images, steps=5, exact=True)
    with pytest.raises(ValueError, match="zeta=1"):
        encode(model, images, steps=5, sampler="rex_rk4", exact=True, zeta=0.9)
    with pytest.raises(ValueError, match="float64"):
        encode(model, images, steps=5, exact=True, dtype=F32)


# -- Latents files ---------------------------------------------------------------------
@pytest.mark.parametrize("name,exact", [("rex_rk4", False), ("rex_shark", False),
                                        ("rev_heun", True)])
def test_save_load_decode_bit_identical(model, images, tmp_path, name, exact):
    lat = encode(model, images, steps=12, sampler=name, seed=9, exact=exact)
    path = tmp_path / "lat.pt"
    lat.save(path)
    back = Latents.load(path)
    assert back.metadata() == lat.metadata()
    assert all(torch.equal(a, b) for a, b in zip(back.state, lat.state))
    assert torch.equal(back.ts, lat.ts) and back.ts.dtype == F64
    assert torch.equal(decode(model, back), decode(model, lat))


def test_latents_metadata_is_complete(model, images):
    lat = encode(model, images, steps=7, sampler="rex_shark", seed=4)
    md = lat.metadata()
    assert md["schedule"] == SCH.to_dict() and md["prediction"] == "x0"
    assert md["sampler"] == "rex_shark" and md["base"] == "shark"
    assert md["options"] == {"case": "sde_x0", "zeta": 0.999, "quantum": None,
                             "compensated": True}
    assert md["seed"] == 4 and md["brownian"]["kind"] == "keyed_grid"
    assert md["brownian"]["levy_area"] is True and md["brownian"]["size"] == [4, 1, 16, 16]
    assert md["grid"] == {"kind": "uniform_lambda", "steps": 7}
    assert md["dtype"] == "float64" and md["library_version"]
    assert lat.noise.shape == images.shape and lat.x_T.shape == images.shape


# positions in the tensors (0.5, 0.9) and in the pickled metadata (0.02); a flip in the zip
# archive's own bookkeeping (a data descriptor's copy of a CRC) changes no content
@pytest.mark.parametrize("where", [0.5, 0.9, 0.02])
def test_tampered_file_raises(model, images, tmp_path, where):
    lat = encode(model, images, steps=5)
    path = tmp_path / "lat.pt"
    lat.save(path)
    raw = bytearray(path.read_bytes())
    i = int(where * len(raw))
    raw[i] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(LatentsFileError, match="corrupt|modified|not a revsde"):
        Latents.load(path)


def test_load_rejects_a_non_latents_file(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"hello": torch.zeros(3)}, path)
    with pytest.raises(LatentsFileError, match="not a revsde latents file"):
        Latents.load(path)
    path.write_bytes(b"garbage")
    with pytest.raises(LatentsFileError):
        Latents.load(path)


def test_decode_refuses_another_configuration(model, images):
    lat = encode(model, images, steps=5, sampler="rex_rk4")
    with pytest.raises(ValueError, match="encoded with sampler 'rex_rk4', not 'rex_euler'"):
        decode(model, lat, sampler="rex_euler")
    with pytest.raises(ValueError, match="case='ode_x0', not case='ode_eps'"):
        decode(model, lat, case="ode_eps")
    other_sched = IdealDenoiser(images, VPCosine(), "x0").model()
    with pytest.raises(ValueError, match="schedule"):
        decode(other_sched, lat)
    other_pred = IdealDenoiser(images, SCH, "eps").model()
    with pytest.raises(ValueError, match="predicts 'eps'"):
        decode(other_pred, lat)
    assert torch.equal(decode(model, lat, sampler="rex_rk4", case="ode_x0"), decode(model, lat))


def test_verify_reports_the_round_trip_error(model, images):
    lat = encode(model, images, steps=10, verify=True)
    assert lat.verify_error is not None and 0.0 <= lat.verify_error <= 1e-10
    assert lat.verify_error == _err(decode(model, lat), images)
    assert encode(model, images, steps=5).verify_error is None


# -- bad input ---------------------------------------------------------------------------
class _Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x, t):
        return self.lin(x)


def test_encode_errors_say_what_to_change(model, images):
    # "ddim" names the DDIM-inversion baseline in encode; the other reference samplers
    # cannot encode
    with pytest.raises(ValueError, match="dpmpp_2m is not reversible.*rex_"):
        encode(model, images, sampler="dpmpp_2m")
    with pytest.raises(ValueError, match="unknown sampler"):
        encode(model, images, sampler="nope")
    with pytest.raises(ValueError, match="zeta must lie in"):
        encode(model, images, sampler="rex_rk4", zeta=1.2)
    with pytest.raises(ValueError, match="sample shape"):
        encode(model, images[:, :, :8, :8])
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        encode(model, images, steps=0)
    with pytest.raises(ValueError, match="NaN"):
        encode(model, images * float("nan"))
    with pytest.raises(TypeError, match="DiffusionModel"):
        encode(model.net, images)
    net_model = DiffusionModel(_Net(), SCH, "eps")  # float32 parameters
    x0 = torch.rand(2, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
    with torch.no_grad():
        # a float64 state with a float32 network (fed a cast): the default state dtype
        lat = encode(net_model, x0, steps=3)
        assert lat.dtype == "float64" and lat.extra["network_dtype"] == "float32"
        back = decode(net_model, encode(net_model, x0, steps=3, dtype=F32))  # dtype= converts
        assert back.dtype == F64 and bool(torch.isfinite(back).all())  # x0's dtype
        net64 = DiffusionModel(_Net().double(), SCH, "eps")
        assert _err(decode(net64, encode(net64, x0, steps=3)), x0) < 1e-6  # untrained net


# -- docs/mathematics.md §4.5: data versus noise prediction ----------------------------------------
def test_data_vs_noise_prediction_inversion_stability():
    """Exact samples of a mixture encode to N(0, I) under the exact PF-ODE.

    Measured (docs/diffusion.md): in the data-prediction case the round trip
    stays at round-off (float64 ~1e-15, float32 ~1e-6) while the noise-prediction
    case amplifies round-off ~1e4x (float64 ~1e-11, float32 ~5e-3); the
    data-prediction latents are inflated at few low-order steps (Euler, 10 steps:
    std 3.5), and agree with the noise-prediction ones from 50 RK4 steps on.
    The default case is therefore ode_x0.  (These are plain sums; the compensated state
    that encode uses by default keeps both cases at round-off, checked last.)
    """
    sch = VPLinear()
    means = torch.randn((3, 2), generator=torch.Generator().manual_seed(3), dtype=F64)
    orc = GaussianMixtureOracle([0.2, 0.5, 0.3], means, [0.6, 0.5, 0.8], sch, "eps")
    m = orc.model()
    x0 = orc.sample(512, torch.Generator().manual_seed(1), t=sch.t_min)
    res = {}
    for dtype in (F64, F32):
        for case in ("ode_eps", "ode_x0"):
            for name, steps in (("rex_rk4", 50), ("rex_euler", 10)):
                lat = encode(m, x0.to(dtype), steps=steps, sampler=name, case=case,
                             compensated=False)  # the plain sums that §4.5 compares
                res[dtype, case, name] = (_err(decode(m, lat), x0.to(dtype)),
                                          float(lat.noise.to(F64).std()))
    for dtype in (F64, F32):
        for name in ("rex_rk4", "rex_euler"):
            assert res[dtype, "ode_x0", name][0] * 100 < res[dtype, "ode_eps", name][0]
    assert res[F32, "ode_x0", "rex_rk4"][0] < 1e-5 < 1e-3 < res[F32, "ode_eps", "rex_rk4"][0]
    assert abs(res[F64, "ode_x0", "rex_rk4"][1] - 1) < 0.02
    assert abs(res[F64, "ode_eps", "rex_rk4"][1] - 1) < 0.02
    assert res[F64, "ode_x0", "rex_euler"][1] > 2.0 > 1.1 > res[F64, "ode_eps", "rex_euler"][1]
    assert get_sampler("rex_rk4").case == "ode_x0"
    # encode's default compensated state (docs/mathematics.md §4.6) removes the amplification in
    # both
    for dtype, bound in ((F64, 1e-14), (F32, 1e-6)):
        lat = encode(m, x0.to(dtype), steps=50, sampler="rex_rk4", case="ode_eps")
        assert _err(decode(m, lat), x0.to(dtype)) <= bound < res[dtype, "ode_eps", "rex_rk4"][0]
