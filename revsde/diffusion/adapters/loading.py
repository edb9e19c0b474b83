"""Load a local diffusers folder (no network) as a :class:`~.diffusers.DiffusersModel`.

Two layouts, as written by diffusers' ``save_pretrained``:

* a pipeline folder: ``model_index.json`` (optional), ``unet/``, ``scheduler/`` and
  optionally ``vae/`` (each a ``save_pretrained`` folder of that component);
* a single model folder: ``config.json`` and weights of the UNet, with
  ``scheduler_config.json`` beside them (the layout of e.g. ``google/ddpm-*``).

Only ``UNet2DModel``/``UNet2DConditionModel`` and ``AutoencoderKL`` are loaded, with
``local_files_only=True``; a text encoder in the folder is not used (pass the
conditioning yourself).  A missing or incomplete folder gets a
:class:`DiffusersAdapterError` that names the missing files.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .diffusers import DiffusersModel, from_diffusers
from .errors import DiffusersAdapterError

__all__ = ["UNET_CLASSES", "VAE_CLASSES", "load_diffusers", "find_components"]

UNET_CLASSES = ("UNet2DModel", "UNet2DConditionModel")
VAE_CLASSES = ("AutoencoderKL",)
_LAYOUT = ("a diffusers folder saved with save_pretrained: DIR/unet/ (config.json and "
           "diffusion_pytorch_model.safetensors), DIR/scheduler/scheduler_config.json and "
           "optionally DIR/vae/ -- e.g. unet.save_pretrained(DIR/'unet'); "
           "scheduler.save_pretrained(DIR/'scheduler')")


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DiffusersAdapterError(f"cannot read {path}: {err}") from None
    if not isinstance(doc, dict):
        raise DiffusersAdapterError(f"{path} is not a JSON object")
    return doc


def _has_weights(folder: Path) -> bool:
    return any(folder.glob("diffusion_pytorch_model*.safetensors")) or any(
        folder.glob("diffusion_pytorch_model*.bin"))


def find_components(path) -> dict:
    """``{"unet": dir, "scheduler": json file, "vae": dir or None}``, checked, for ``path``."""
    root = Path(path)
    if not root.exists():
        raise DiffusersAdapterError(f"model folder {root} does not exist; expected {_LAYOUT}")
    if not root.is_dir():
        raise DiffusersAdapterError(f"{root} is not a folder; expected {_LAYOUT}")
    index = root / "model_index.json"
    listed = _read_json(index) if index.exists() else None
    vae: Path | None
    if listed is not None or (root / "unet").is_dir():
        unet, sched = root / "unet", root / "scheduler" / "scheduler_config.json"
        vae_dir = root / "vae"
        if listed is not None:
            if "unet" not in listed or "scheduler" not in listed:
                raise DiffusersAdapterError(
                    f"{index} lists {sorted(k for k in listed if not k.startswith('_'))}; "
                    "revsde needs a 'unet' and a 'scheduler'")
            wants_vae = isinstance(listed.get("vae"), list) and listed["vae"][0] is not None
        else:
            wants_vae = vae_dir.is_dir()
        vae = vae_dir if wants_vae else None
    else:
        unet, sched, vae = root, root / "scheduler_config.json", None
    missing = []
    for folder in [unet] + ([vae] if vae is not None else []):
        if not (folder / "config.json").is_file():
            missing.append(str(folder / "config.json"))
        if not folder.is_dir() or not _has_weights(folder):
            missing.append(f"{folder}/diffusion_pytorch_model.safetensors (or .bin)")
    if not sched.is_file():
        missing.append(str(sched))
    if missing:
        raise DiffusersAdapterError(
            f"incomplete diffusers folder {root}: missing {', '.join(missing)}; expected "
            f"{_LAYOUT}")
    return {"unet": unet, "scheduler": sched, "vae": vae}


def _load(diffusers, folder: Path, allowed: tuple, what: str):
    name = _read_json(folder / "config.json").get("_class_name")
    if not isinstance(name, str) or name not in allowed:
        raise DiffusersAdapterError(
            f"{folder} holds a {name!r}; revsde loads a {what} of class {' or '.join(allowed)}")
    try:
        return getattr(diffusers, name).from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        raise DiffusersAdapterError(
            f"cannot load the {what} from {folder}: {str(err).splitlines()[0]}") from None


def load_diffusers(path, *, dtype: torch.dtype | None = None, device=None,
                   guidance_scale: float | None = None, uncond: dict | None = None,
                   prediction: str | None = None) -> DiffusersModel:
    """A :class:`DiffusersModel` from a local diffusers folder, offline.

    Args:
        path: the folder (module docstring for the layouts).
        dtype, device: move the UNet (and VAE) there; default: as saved, on the CPU.
        guidance_scale, uncond, prediction: as in :func:`from_diffusers`.
    """
    parts = find_components(path)
    try:
        import diffusers
    except ImportError:
        raise DiffusersAdapterError(
            "loading a diffusers folder needs diffusers: pip install 'revsde[diffusers]'"
        ) from None
    unet = _load(diffusers, parts["unet"], UNET_CLASSES, "UNet").eval()
    vae = None
    if parts["vae"] is not None:
        vae = _load(diffusers, parts["vae"], VAE_CLASSES, "VAE").eval()
    config = _read_json(parts["scheduler"])
    for module in (unet, vae):
        if module is not None and (dtype is not None or device is not None):
            module.to(device=device, dtype=dtype)
    return from_diffusers(unet, config, vae=vae, guidance_scale=guidance_scale, uncond=uncond,
                          prediction=prediction)
