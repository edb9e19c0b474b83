"""The shipped small model, loaded offline: ``pretrained("small-unet") -> DiffusionModel``.

The weight file (``revsde/diffusion/pretrained/weights/small_unet.pt``) is a plain
dict read with ``torch.load(..., weights_only=True)``:

* ``format`` = ``"revsde-pretrained"`` and ``version`` (an int, currently 1);
* ``name``, ``arch`` (``"TinyUNet"``) and ``arch_config`` (its constructor kwargs);
* ``parameterization``: what the raw network predicts, ``"eps"`` or ``"v"`` (then
  the model's network is ``VToEps(net, schedule)``, ``ε = σ x + α v̂``);
* ``schedule`` (``NoiseSchedule.to_dict()``) and ``prediction`` (``"eps"``);
* ``image_shape`` ``[C, H, W]`` (the training crops; a fully convolutional
  network takes any H, W) and ``data_range`` ``[-1, 1]``;
* ``training`` (how it was made: config, data description, losses, time);
* ``state_dict`` (float32 tensors);
* optional ``weights_sha256``: the SHA-256 of the weights themselves
  (:func:`revsde.diffusion.models.weights_fingerprint` of the float32 network),
  checked on load; a model loaded in float32 has this fingerprint.

The loaded model declares ``channels`` (``image_shape[0]``) and ``data_range``,
which :func:`revsde.diffusion.encode` checks its input against.

How it was trained and how to retrain it: ``docs/pretrained.md`` and
``examples/train_small_model.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..models import DiffusionModel, weights_fingerprint
from ..schedules import schedule_from_dict
from ..serialization import load_failure
from .digits import DigitsUNet
from .unet import PARAMETERIZATIONS, TinyUNet, VToEps

__all__ = ["pretrained", "list_pretrained", "save_pretrained", "load_record", "check_device",
           "PRETRAINED",
           "FORMAT", "FORMAT_VERSION"]

FORMAT = "revsde-pretrained"
FORMAT_VERSION = 1
_WEIGHTS = Path(__file__).resolve().parent / "weights"
#: name -> weight file inside the package
PRETRAINED = {"small-unet": _WEIGHTS / "small_unet.pt",
              "digits-unet": _WEIGHTS / "digits_unet.pt"}
_ARCHS = {"TinyUNet": TinyUNet, "DigitsUNet": DigitsUNet}
_KEYS = ("format", "version", "name", "arch", "arch_config", "parameterization", "schedule",
         "prediction", "image_shape", "data_range", "training", "state_dict")


def list_pretrained() -> list[str]:
    """Names accepted by :func:`pretrained`."""
    return sorted(PRETRAINED)


def save_pretrained(path, net: TinyUNet, schedule, *, name: str, prediction: str = "eps",
                    parameterization: str = "eps", image_shape=(1, 32, 32),
                    training: dict | None = None) -> Path:
    """Write the raw ``net`` (as float32) with its schedule and metadata in the format above."""
    if parameterization not in PARAMETERIZATIONS:
        raise ValueError(f"unknown parameterization {parameterization!r}; valid ones are "
                         f"{PARAMETERIZATIONS}")
    if parameterization == "v" and prediction != "eps":
        raise ValueError("a v-parameterized network is shipped as an eps model (VToEps); "
                         f"got prediction={prediction!r}")
    state = {k: v.detach().to("cpu", torch.float32).clone()
             for k, v in net.state_dict().items()}
    blob = {
        "format": FORMAT, "version": FORMAT_VERSION, "name": str(name),
        "arch": type(net).__name__, "arch_config": dict(net.config),
        "parameterization": parameterization,
        "schedule": schedule.to_dict(), "prediction": prediction,
        "image_shape": [int(s) for s in image_shape], "data_range": [-1.0, 1.0],
        "training": dict(training or {}), "state_dict": state,
        "weights_sha256": _state_fingerprint(state),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(blob, path)
    return path


def _resolve(name_or_path) -> Path:
    if not isinstance(name_or_path, (str, os.PathLike)):
        raise TypeError(
            f"the model must be named by a string (one of {list_pretrained()}) or the path of "
            f"a .pt file written by save_pretrained; got {type(name_or_path).__name__} "
            f"{name_or_path!r}")
    if isinstance(name_or_path, (str, os.PathLike)) and str(name_or_path) in PRETRAINED:
        path = PRETRAINED[str(name_or_path)]
        if not path.is_file():
            raise FileNotFoundError(
                f"the weights of {name_or_path!r} are missing ({path}); the package install "
                "is incomplete. Reinstall revsde, or rebuild them with "
                "`python examples/train_small_model.py`."
            )
        return path
    p = Path(os.fspath(name_or_path))
    if p.suffix == ".pt" and p.is_file():
        return p
    raise ValueError(
        f"unknown pretrained model {str(name_or_path)!r}; valid names are {list_pretrained()} "
        "(or pass the path of a .pt file written by save_pretrained)"
    )


def load_record(name="small-unet") -> dict:
    """The validated weight-file dict of a shipped name (or a ``.pt`` path)."""
    path = _resolve(name)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path} is not a readable revsde weight file: {load_failure(e)}") from e
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path} is not a revsde weight file (no format={FORMAT!r} key)")
    missing = [k for k in _KEYS if k not in blob]
    if missing:
        raise ValueError(f"{path} lacks the keys {missing}")
    if blob["version"] != FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {blob['version']}; this revsde reads version "
            f"{FORMAT_VERSION}"
        )
    if blob["parameterization"] not in PARAMETERIZATIONS:
        raise ValueError(f"{path} has an unknown parameterization {blob['parameterization']!r}")
    if blob["arch"] not in _ARCHS:
        raise ValueError(f"{path} names an unknown architecture {blob['arch']!r}; "
                         f"known ones are {sorted(_ARCHS)}")
    digest = blob.get("weights_sha256")
    if digest is not None:
        state = blob["state_dict"]
        if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
            raise ValueError(f"{path} has a state_dict that is not a dict of tensors")
        here = _state_fingerprint(state)
        if here != digest:
            raise ValueError(f"{path}: the weights' SHA-256 is {str(here)[:12]}..., the file "
                             f"records {str(digest)[:12]}...; the weights were modified or "
                             "damaged. Reinstall revsde or retrain them")
    return blob


def _state_fingerprint(state: dict) -> str | None:
    holder = torch.nn.Module()
    for i, v in enumerate(state.values()):
        holder.register_buffer(f"t{i}", v)
    return weights_fingerprint(holder)


def check_device(device) -> torch.device | None:
    """``device`` as a ``torch.device`` (``None`` stays ``None``: the CPU) if this torch can
    use it, else an error that says which device to pass instead."""
    if device is None:
        return None
    if not isinstance(device, (str, int, torch.device)) or isinstance(device, bool):
        raise TypeError(f"device must be a torch.device or a string such as 'cpu' or 'cuda'; "
                        f"got {type(device).__name__} {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"device {device!r} is not a device torch knows; pass 'cpu', 'cuda', "
                         "'cuda:0' or 'mps'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available here "
                             "(torch.cuda.is_available() is False: no GPU, or a CPU-only "
                             "torch); pass device='cpu' or leave device out")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r}: this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s); pass 'cuda:0'")
    elif dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise ValueError(f"device {device!r}: MPS (Apple GPU) is not available here; pass "
                             "device='cpu' or leave device out")
    elif dev.type != "cpu":
        raise ValueError(f"device {device!r}: the shipped models run on 'cpu', 'cuda' or "
                         "'mps'")
    return dev


def pretrained(name: str = "small-unet", device=None,
               dtype: torch.dtype = torch.float32) -> DiffusionModel:
    """Load a shipped model offline as an eval-mode :class:`DiffusionModel` on device/dtype.

    The network takes images of shape ``(batch, model.channels, H, W)`` in
    ``model.data_range`` ([-1, 1]); the shipped ``small-unet`` is fully
    convolutional (any H, W).  ``model.fingerprint()`` is the SHA-256 of its
    weights (the file's ``weights_sha256`` in float32).
    Its parameters are frozen (``requires_grad=False``), so encoding, decoding and
    sampling build no autograd graph; gradients with respect to inputs still flow.
    Call ``model.requires_grad_(True)`` to fine-tune it.
    """
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise ValueError(f"dtype must be a floating torch.dtype; got {dtype!r}")
    device = check_device(device)
    blob = load_record(name)
    net: torch.nn.Module = _ARCHS[blob["arch"]](**blob["arch_config"])
    try:
        net.load_state_dict(blob["state_dict"], strict=True)
    except RuntimeError as e:
        raise ValueError(f"the weights of {name!r} do not fit {blob['arch']}: {e}") from e
    schedule = schedule_from_dict(blob["schedule"])
    if blob["parameterization"] == "v":
        net = VToEps(net, schedule)
    model = DiffusionModel(net, schedule, blob["prediction"])
    model.image_shape = tuple(blob["image_shape"])
    model.channels = int(blob["image_shape"][0])
    model.data_range = tuple(float(v) for v in blob["data_range"])
    model.pretrained_name = blob["name"]
    return model.to(device=device, dtype=dtype).eval().requires_grad_(False)
