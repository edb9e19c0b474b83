"""A new user's first hour re-tried from a ``pip install`` of the wheel, without extras.

The module builds the wheel from this checkout (``pip wheel --no-deps``), makes a new
virtual environment in a temporary folder, installs the wheel there with pip (no
extras), and runs each case that is a command as a user would: the ``revsde``
script of that environment, the working directory outside the checkout, no
``PYTHONPATH``.  Each gives the right result, or a one-line error that says what
to change.

How the dependencies get there (and why): a real install of torch into a new
environment costs ~21 s and ~900 MB of disk, and torchsde is not on the local
indexes (a network fetch), which would put the module past its time budget and make
it depend on the network.  So the new environment sees the *runtime* dependencies
that the wheel declares (its ``Requires-Dist`` without extras, followed through
their own requirements) through one ``.pth`` line pointing at a folder of symbolic
links to exactly those distributions of the test's own environment, and nothing
else of it: scikit-image, scikit-learn, diffusers, transformers, pytest are not
visible (a test checks that).  pip installs the wheel with ``--no-index`` and
resolves its dependencies against what it sees, so a requirement the wheel declares
that is not met fails the install, and a module the package imports but does not
declare fails the commands.  ``REVSDE_WHEEL_DEPS=index`` installs the dependencies
for real from the configured package indexes instead (slow; for a manual check).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version
from PIL import Image
from pty_util import run_on_a_terminal

from revsde.app.demo import DEFAULT_SAMPLER  # the checkout's default: the wheel's too

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
VERSION = re.search(r'^version = "(.+)"$', (ROOT / "pyproject.toml").read_text(), re.M)[1]
NOT_INSTALLED = ("skimage", "sklearn", "diffusers", "transformers", "pytest", "hypothesis")


# -- the environment ------------------------------------------------------------------------
def _pip(*args, timeout=300):
    done = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def build_wheel(dest: Path) -> Path:
    """The wheel of this checkout, built from a copy of it (the checkout stays clean)."""
    src = dest / "src"
    src.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "revsde", src / "revsde",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # this environment's setuptools when it builds wheels by itself (>= 70.1), else pip's
    # isolated build environment (setuptools and wheel from the package index)
    try:
        here = Version(metadata.version("setuptools")) >= Version("70.1")
    except metadata.PackageNotFoundError:
        here = False
    _pip("wheel", "--no-deps", *(["--no-build-isolation"] if here else []), "--quiet",
         "-w", str(dest / "dist"), str(src))
    (wheel,) = (dest / "dist").glob("revsde-*.whl")
    return wheel


def runtime_distributions(requires: list[str]) -> list[metadata.Distribution]:
    """The installed distributions that ``requires`` (no extras) needs, transitively."""
    env = default_environment()
    found: dict[str, metadata.Distribution] = {}
    todo = [(Requirement(r), "") for r in requires]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({**env, "extra": extra}):
            continue
        name = canonicalize_name(req.name)
        if name in found:
            continue
        dist = metadata.distribution(req.name)  # PackageNotFoundError: the environment lacks it
        found[name] = dist
        for extra_name in ("", *req.extras):
            todo += [(Requirement(r), extra_name) for r in dist.requires or ()]
    return list(found.values())


def link_distributions(dists, folder: Path) -> None:
    """A folder of symbolic links to the files of ``dists`` (their top-level entries)."""
    folder.mkdir()
    for dist in dists:
        base = Path(dist.locate_file(""))
        tops = {Path(f).parts[0] for f in dist.files or () if not str(f).startswith("..")}
        for top in tops:
            if top.endswith(".pth") or top == "__pycache__" or (folder / top).exists():
                continue
            if (base / top).exists():
                (folder / top).symlink_to(base / top)


def wheel_requires(wheel: Path) -> list[str]:
    """The wheel's ``Requires-Dist`` lines (its METADATA)."""
    with zipfile.ZipFile(wheel) as z:
        (name,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        text = z.read(name).decode()
    return re.findall(r"^Requires-Dist: (.+)$", text, re.M)


class Venv:
    """A new virtual environment with the wheel installed, and ways to run commands in it."""

    def __init__(self, root: Path):
        self.root = root
        self.wheel = build_wheel(root / "build")
        self.dir = root / "venv"
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(self.dir)],
                       check=True, timeout=120)
        self.python = self.dir / "bin" / "python"
        self.site = Path(subprocess.run(
            [self.python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            capture_output=True, text=True, check=True).stdout.strip())
        self.requires = wheel_requires(self.wheel)
        target = ["--python", str(self.python)]
        if os.environ.get("REVSDE_WHEEL_DEPS") == "index":
            _pip(*target, "install", "--quiet", str(self.wheel), timeout=900)
        else:
            requires = [r for r in self.requires if "extra ==" not in r]
            deps = runtime_distributions(requires)
            link_distributions(deps, root / "deps")
            (self.site / "_revsde_runtime_deps.pth").write_text(str(root / "deps") + "\n")
            _pip(*target, "install", "--quiet", "--no-index", "--find-links",
                 str(self.wheel.parent), "revsde")
        _pip(*target, "check")
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
        self.env.update(OMP_NUM_THREADS="1", PATH=f"{self.dir / 'bin'}{os.pathsep}"
                        f"{self.env.get('PATH', '')}", MPLBACKEND="Agg")

    def run(self, *args, cwd: Path, timeout=300) -> subprocess.CompletedProcess:
        """``revsde ARGS`` as the installed script, in ``cwd``."""
        return subprocess.run([str(self.dir / "bin" / "revsde"), *map(str, args)],
                              capture_output=True, text=True, env=self.env, cwd=cwd,
                              timeout=timeout)

    def run_on_a_terminal(self, *args, cwd: Path, timeout=300) -> subprocess.CompletedProcess:
        """``revsde ARGS`` with stderr on a pseudo-terminal (what the terminal got)."""
        return run_on_a_terminal([str(self.dir / "bin" / "revsde"), *map(str, args)],
                                 env=self.env, cwd=cwd, timeout=timeout)

    def python_run(self, *args, cwd: Path, timeout=300) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.python), *map(str, args)], capture_output=True,
                              text=True, env=self.env, cwd=cwd, timeout=timeout)


# -- the user's pictures, written by the test ----------------------------------------------------
H, W = 12, 20  # small pictures: each round trip takes a fraction of a second


def write_pictures(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    y, x = np.mgrid[0:H, 0:W]
    ramp = 140 + 110 * (x / (W - 1) + y / (H - 1)) / 2  # every pixel in [140, 250]
    rgb = np.stack([ramp, ramp[::-1], np.full_like(ramp, 200)], -1).astype(np.uint8)
    paths = {k: folder / n for k, n in (("bright", "snow.jpg"), ("exif", "phone.jpg"),
                                         ("rgba", "logo.png"), ("tiff", "scan.tif"),
                                         ("hot_tiff", "hdr.tif"))}
    Image.fromarray(rgb).save(paths["bright"], quality=95)
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: the camera was turned a quarter
    Image.fromarray(rgb).save(paths["exif"], quality=95, exif=exif)
    rgba = np.concatenate([rgb, np.full((H, W, 1), 255, np.uint8)], -1)
    rgba[:, : W // 2] = 0  # the left half transparent black: white once composited
    Image.fromarray(rgba, "RGBA").save(paths["rgba"])
    Image.fromarray((x / (W - 1) * 0.5 + y / (H - 1) * 0.5).astype(np.float32), "F").save(
        paths["tiff"])
    Image.fromarray((x / (W - 1) * 2.0).astype(np.float32), "F").save(paths["hot_tiff"])
    return paths


#: the Python cases of the list, run by the installed interpreter (one process)
API = r'''
import json, sys, numpy as np, torch, revsde
from revsde import diffusion as D
from revsde.app.images import load_picture, read_picture
pics = json.loads(sys.argv[1])
out = {}
def refused(key, fn):
    try:
        fn()
    except Exception as e:
        out[key] = [type(e).__name__, str(e)]
    else:
        out[key] = None
for dt in ("int64", "uint8"):
    refused("load_picture " + dt, lambda: load_picture(pics["bright"], dtype=getattr(torch, dt)))
rgba = read_picture(pics["rgba"])
out["rgba"] = [float(rgba[:, :10].min()), float(rgba[:, 10:].min()), list(rgba.shape)]
tif = load_picture(pics["tiff"], dtype=torch.float64)
from PIL import Image
raw = torch.as_tensor(np.asarray(Image.open(pics["tiff"]), dtype=np.float64))
out["tiff"] = float((tif[0, 0] - (2 * raw - 1)).abs().max())
out["exif"] = list(read_picture(pics["exif"]).shape)
m = D.pretrained("small-unet")
x = load_picture("astronaut", max_side=8, dtype=torch.float32)
refused("encode empty batch", lambda: D.encode(m, torch.zeros(0, 3, 8, 8), steps=2))
refused("encode height 0", lambda: D.encode(m, torch.zeros(1, 3, 0, 8), steps=2))
refused("sample batch 0", lambda: D.sample(m, (0, 3, 8, 8), steps=2, seed=0))
refused("sample negative", lambda: D.sample(m, (1, 3, -32, 32), steps=2, seed=0))
refused("cond tensor", lambda: D.encode(m, x, steps=2, cond=torch.zeros(1)))
refused("cond unconditional", lambda: D.encode(m, x, steps=2, cond={"label": torch.zeros(1)}))
refused("gradient channels", lambda: D.gradient(lambda s: s.sum(), m, torch.randn(1, 1, 8, 8),
                                                steps=2))
refused("gradient steps 0", lambda: D.gradient(lambda s: s.sum(), m, torch.randn(1, 3, 8, 8),
                                               steps=0))
refused("pretrained None", lambda: D.pretrained(None))
if not torch.cuda.is_available():
    refused("pretrained cuda", lambda: D.pretrained("small-unet", device="cuda"))
refused("complex", lambda: D.encode(m, x.to(torch.complex64), steps=2))
refused("data_range 0", lambda: D.encode(m, x, steps=2, data_range=0))
refused("exact yes", lambda: D.encode(m, x, steps=2, exact="yes"))
lat = D.encode(m, x, steps=np.int64(3))
out["numpy steps"] = float((D.decode(m, lat) - x).abs().max())
snow = load_picture(pics["bright"], max_side=8, dtype=torch.float32)  # every pixel >= 128
out["bright api"] = float((D.decode(m, D.encode(m, snow, steps=2)) - snow).abs().max())
refused("save folder", lambda: lat.save(pics["folder"]))
refused("save missing", lambda: lat.save(pics["folder"] + "/missing/lat.pt"))
class S(torch.nn.Module):
    noise_type, sde_type = "diagonal", "stratonovich"
    def f(self, t, y): return -y
    def g(self, t, y): return 0.1 * torch.ones_like(y)
class InPlace(S):
    def f(self, t, y): return y.mul_(-1.0)
y0, ts = torch.ones(2, 3, dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64)
refused("sdeint bm=5", lambda: revsde.sdeint(S(), y0, ts, dt=0.1, bm=5))
refused("sdeint class", lambda: revsde.sdeint(S, y0, ts, dt=0.1))
refused("sdeint dt=1e-300", lambda: revsde.sdeint(S(), y0, ts, dt=1e-300))
kept = y0.clone()
refused("f in place", lambda: revsde.sdeint(InPlace(), y0, ts, dt=0.1, entropy=0))
out["y0 kept"] = bool(torch.equal(y0, kept))
print(json.dumps(out))
'''

#: each refused API case: (exception class, a fragment of its message)
API_REFUSED = {
    "load_picture int64": ("PictureError", "dtype must be a floating torch.dtype"),
    "load_picture uint8": ("PictureError", "dtype must be a floating torch.dtype"),
    "encode empty batch": ("ValueError", "x0 is empty"),
    "encode height 0": ("ValueError", "x0 is empty"),
    "sample batch 0": ("ValueError", "each at least 1; got (0, 3, 8, 8)"),
    "sample negative": ("ValueError", "each at least 1; got (1, 3, -32, 32)"),
    "cond tensor": ("TypeError", "cond must be a dict"),
    "cond unconditional": ("ValueError", "this model is unconditional"),
    "gradient channels": ("GradientError", "x_T has 1 channel(s)"),
    "gradient steps 0": ("GradientError", "steps must be a positive integer"),
    "pretrained None": ("TypeError", "named by a string"),
    "pretrained cuda": ("ValueError", "CUDA is not available here"),
    "complex": ("TypeError", "x0 is complex"),
    "data_range 0": ("ValueError", "data_range must be a positive, finite bound"),
    "exact yes": ("ArgumentError", "exact must be True or False; got str 'yes'"),
    "save folder": ("IsADirectoryError", "is a folder; save the latents to a file"),
    "save missing": ("FileNotFoundError", "does not exist; create it first"),
    "sdeint bm=5": ("TypeError", "bm must be a Brownian motion object"),
    "sdeint class": ("TypeError", "not an instance of it"),
    "sdeint dt=1e-300": ("", "steps"),
    "f in place": ("SDEOutputError", "modified its argument y in place"),
}

ABOUT = r'''
import json, sys, revsde, importlib.util
from revsde.cli import build_parser
from revsde.app.demo import DEFAULT_SAMPLER
subs = build_parser()._subparsers._group_actions[0].choices
print(json.dumps({
    "file": revsde.__file__, "version": revsde.__version__, "sampler": DEFAULT_SAMPLER,
    "present": [m for m in sys.argv[1:] if importlib.util.find_spec(m) is not None],
    "no_help": [f"{n} {a.option_strings or a.dest}" for n, s in subs.items()
                for a in s._actions if not a.help],
}))
'''

FAST = ("--steps", "2", "--baselines", "--no-figure", "--json")


def cases(pics: dict[str, Path], work: Path) -> dict[str, tuple]:
    """name: ("revsde" or "python", args, working directory)."""
    (work / "model").mkdir(parents=True)
    ex = ROOT / "examples"
    api_args = json.dumps({**{k: str(v) for k, v in pics.items()}, "folder": str(work)})
    c = {
        "version": ("revsde", ["--version"]),
        "help": ("revsde", ["--help"]),
        "help invert": ("revsde", ["invert", "--help"]),
        "help bench": ("revsde", ["bench", "--help"]),
        "help convergence": ("revsde", ["convergence", "--help"]),
        "bright": ("revsde", ["invert", pics["bright"], *FAST]),
        "exif": ("revsde", ["invert", pics["exif"], *FAST]),
        "rgba": ("revsde", ["invert", pics["rgba"], *FAST]),
        "tiff": ("revsde", ["invert", pics["tiff"], *FAST]),
        "progress": ("terminal", ["invert", pics["bright"], "--steps", "2", "--baselines",
                                  "edict", "--no-figure"]),
        "hot tiff": ("revsde", ["invert", pics["hot_tiff"], *FAST]),
        "billion steps": ("revsde", ["invert", "--steps", "1000000000"]),
        "ddim": ("revsde", ["invert", "--sampler", "ddim"]),
        "model picture": ("revsde", ["invert", "--model", pics["bright"]]),
        "model dir options": ("revsde", ["invert", pics["bright"], "--model", work / "model",
                                         "--baselines", "edict"]),
        "figure noext": ("revsde", ["invert", "--size", "16", "--steps", "2", "--baselines",
                                    "--figure", "noext"]),
        "tol": ("revsde", ["convergence", "--quick", "--tol", "-1"]),
        "bench json": ("revsde", ["bench", "--json"]),
        "bench text": ("revsde", ["bench"]),
        "bench run": ("revsde", ["bench", "forward"]),
        "bench dir": ("revsde", ["bench", "--json", "--dir", ROOT / "benchmarks"]),
        "python -m": ("python", ["-m", "revsde", "--version"]),
        "about": ("python", ["-c", ABOUT, *NOT_INSTALLED]),
        "api": ("python", ["-c", API, api_args]),
        "train_digits": ("python", [ex / "train_digits.py"]),
        "guided_generation": ("python", [ex / "guided_generation.py"]),
        "train_small_model": ("python", [ex / "train_small_model.py", "--steps", "1"]),
    }
    out = {}
    for name, (kind, args) in c.items():
        cwd = work / "cwd" / name.replace(" ", "_")  # its own empty folder, outside the checkout
        cwd.mkdir(parents=True)
        out[name] = (kind, args, cwd)
    return out


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.pt")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The installed wheel and every case's result (two at a time: the machine has 2 cores)."""
    root = tmp_path_factory.mktemp("wheel")
    venv = Venv(root)
    weights = venv.site / "revsde" / "diffusion" / "pretrained" / "weights"
    before = _digests(weights)
    todo = cases(write_pictures(root / "pictures"), root / "work")

    def one(item):
        name, (kind, args, cwd) = item
        run = venv.run if kind == "revsde" else venv.python_run
        if kind == "terminal":
            run = venv.run_on_a_terminal
        return name, run(*args, cwd=cwd)

    with ThreadPoolExecutor(2) as pool:
        done = dict(pool.map(one, todo.items()))
    return {"venv": venv, "done": done, "cwd": {k: v[2] for k, v in todo.items()},
            "weights": (before, _digests(weights))}


def _ok(done):
    assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
    return done.stdout


def _one_line_error(done, *parts, code=2):
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    err = done.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for p in parts:
        assert p in err, (p, err)
    return err


# -- the installed package --------------------------------------------------------------------
def test_the_wheel_is_what_runs_and_has_no_extras(wheel):
    venv = wheel["venv"]
    about = json.loads(_ok(wheel["done"]["about"]))
    assert Path(about["file"]).resolve().is_relative_to(venv.site.resolve())  # not the checkout
    assert about["version"] == VERSION
    assert about["present"] == []  # no extra is importable: skimage, sklearn, diffusers, ...
    assert about["no_help"] == []  # every option of every subcommand has a help text
    assert {Requirement(r).name for r in venv.requires if "extra ==" not in r} >= {
        "torch", "numpy", "pillow", "tqdm", "matplotlib"}
    # the shipped weights and pictures are in the wheel
    assert len(wheel["weights"][0]) >= 2
    assert {p.name for p in (venv.site / "revsde" / "app" / "pictures").glob("*.jpg")} >= {
        "astronaut.jpg", "coffee.jpg"}


def test_version_and_help_texts(wheel):
    done = wheel["done"]
    assert _ok(done["version"]).strip() == f"revsde {VERSION}"
    assert _ok(done["python -m"]).strip() == f"revsde {VERSION}"
    main = " ".join(_ok(done["help"]).split())
    for sub in ("solvers", "convergence", "invert", "bench", "--version"):
        assert sub in main
    invert = " ".join(_ok(done["help invert"]).split())
    sampler = json.loads(done["about"].stdout)["sampler"]
    assert f"default {sampler}" in invert  # the default the help names is the one used
    assert "--no-figure draw no figure" in invert and "--figure FILE where to draw" in invert
    bench = " ".join(_ok(done["help bench"]).split())
    assert "--quick a short smoke run" in bench
    assert "--tol TOL flag fitted orders" in " ".join(_ok(done["help convergence"]).split())


# -- their own pictures -----------------------------------------------------------------------
def _round_trip(done):
    doc = json.loads(_ok(done))
    assert done.stderr == ""  # no progress bar when stderr is not a terminal, no warnings
    (res,) = doc["results"]
    assert res["finite"] and res["max_abs"] <= 1e-6, res
    return doc


def test_a_bright_photograph_is_inverted(wheel):
    """Every pixel >= 128 was refused as 'no negative value'."""
    assert _round_trip(wheel["done"]["bright"])["image_shape"] == [1, 3, H, W]


def test_a_phone_photograph_comes_upright(wheel):
    """EXIF orientation 6 (turned a quarter): processed W x H, not sideways."""
    assert _round_trip(wheel["done"]["exif"])["image_shape"] == [1, 3, W, H]
    assert json.loads(wheel["done"]["api"].stdout)["exif"] == [W, H, 3]


def test_an_alpha_channel_is_composited_over_white(wheel):
    assert _round_trip(wheel["done"]["rgba"])["image_shape"] == [1, 3, H, W]
    transparent, opaque, shape = json.loads(wheel["done"]["api"].stdout)["rgba"]
    assert transparent == 1.0 and opaque >= 140 / 255 - 1e-12 and shape == [H, W, 3]


def test_a_float_tiff_is_read_as_0_to_1(wheel):
    assert _round_trip(wheel["done"]["tiff"])["image_shape"] == [1, 3, H, W]
    assert json.loads(wheel["done"]["api"].stdout)["tiff"] <= 1e-7  # 2a - 1, not about -1
    _one_line_error(wheel["done"]["hot tiff"], "read as values in [0, 1]", "[0, 2]")


# -- the command line -------------------------------------------------------------------------
def test_invert_shows_progress_on_a_terminal(wheel):
    done = wheel["done"]["progress"]
    out = _ok(done)
    assert "invert" in done.stderr and "NFE" in done.stderr and "%|" in done.stderr, done.stderr
    assert DEFAULT_SAMPLER in out and "%|" not in out  # the table on stdout, no bar in it


def test_refusals_before_anything_runs(wheel):
    done = wheel["done"]
    err = _one_line_error(done["billion steps"], "1,000,000,000 steps", "--steps")
    assert "GB" in err  # what it would need
    err = _one_line_error(done["ddim"], "'ddim' is not a reversible", "--baselines")
    assert "rex_euler" in err
    err = _one_line_error(done["model picture"], "is a file, not a model",
                          "revsde invert PICTURE --model MODEL")
    assert "does not exist" not in err
    _one_line_error(done["model dir options"], "--baselines works with the shipped models only")
    _one_line_error(done["tol"], "--tol must be a positive")


def test_figure_without_a_suffix_is_written_where_it_says(wheel):
    out = _ok(wheel["done"]["figure noext"])
    said = out.rsplit("figure: ", 1)[1].strip()
    cwd = wheel["cwd"]["figure noext"]
    assert said == "noext.png" and (cwd / said).stat().st_size > 10_000
    assert sorted(p.name for p in cwd.iterdir()) == ["noext.png"]


def test_bench_lists_every_benchmark_and_says_where_they_are(wheel):
    done = wheel["done"]
    names = sorted(p.stem[len("bench_"):] for p in (ROOT / "benchmarks").glob("bench_*.py"))
    doc = json.loads(_ok(done["bench json"]))
    assert doc["benchmarks"] == names  # every script of the repository's benchmarks/
    assert doc["runnable"] == [] and doc["available"] is False and doc["folder"] is None
    text = _ok(done["bench text"])
    assert "none can run here" in text and "source repository" in text
    assert "site-packages" not in text
    err = _one_line_error(done["bench run"], "source repository", "--dir")
    assert "site-packages" not in err
    assert json.loads(_ok(done["bench dir"]))["runnable"] == names


# -- the diffusion API's contract, from the installed package ----------------------------------
def test_the_api_cases_are_refused_with_the_librarys_messages(wheel):
    got = json.loads(_ok(wheel["done"]["api"]))
    for key, (cls, fragment) in API_REFUSED.items():
        if key == "pretrained cuda" and key not in got:
            continue  # this machine has CUDA: nothing to refuse
        assert got[key] is not None, f"{key}: accepted"
        name, message = got[key]
        assert cls in ("", name) and fragment in message, (key, name, message)
        assert "\n" not in message.strip(), (key, message)
    assert got["numpy steps"] <= 1e-6
    # encode(model, load_picture("snow.jpg")) was refused as "no negative value"
    assert got["bright api"] <= 1e-6
    assert got["y0 kept"] is True


# -- the examples and the shipped weights -----------------------------------------------------
@pytest.mark.parametrize("script,package", [("train_digits", "scikit-learn"),
                                            ("guided_generation", "scikit-learn"),
                                            ("train_small_model", "scikit-image")])
def test_examples_without_extras_say_what_to_install(wheel, script, package):
    """Without extras the data packages are really missing here (not simulated): each
    script says what to install in one line, writes nothing, and leaves the weights
    shipped inside the installed package as they were."""
    _one_line_error(wheel["done"][script], f"pip install {package}", code=1)
    assert list(wheel["cwd"][script].iterdir()) == []
    before, after = wheel["weights"]
    assert after == before and len(before) >= 2
