"""Load a local diffusers folder (no network) as a :class:`~.diffusers.DiffusersModel`.

Two layouts, as written by diffusers' ``save_pretrained``:

* a pipeline folder: ``model_index.json`` (optional), ``unet/`` or ``transformer/``,
  ``scheduler/`` and optionally ``vae/`` (each a ``save_pretrained`` folder of that
  component), and the text encoders and tokenizers of a text-to-image pipeline;
* a single model folder: ``config.json`` and weights of the UNet, with
  ``scheduler_config.json`` beside them (the layout of e.g. ``google/ddpm-*``).

Without a prompt, only the network (``UNet2DModel``, ``UNet2DConditionModel`` or a
flow-matching transformer) and ``AutoencoderKL`` are loaded, with
``local_files_only=True``, and the conditioning is the caller's.  With ``prompt=``
(:func:`load_diffusers`) the whole pipeline is loaded (:func:`load_pipeline`:
``DiffusionPipeline.from_pretrained(DIR, local_files_only=True)``) and
:func:`~.pipelines.from_pipeline` encodes the prompts with its text encoders.  A
missing or incomplete folder gets a :class:`DiffusersAdapterError` that names the
missing files.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .diffusers import DiffusersModel, from_diffusers
from .errors import DiffusersAdapterError
from .transformers import FLOW_FAMILIES

__all__ = ["UNET_CLASSES", "VAE_CLASSES", "load_diffusers", "find_components", "load_pipeline",
           "text_encoders"]

UNET_CLASSES = ("UNet2DModel", "UNet2DConditionModel") + tuple(FLOW_FAMILIES)
VAE_CLASSES = ("AutoencoderKL",)
_LAYOUT = ("a diffusers folder saved with save_pretrained: DIR/unet/ or DIR/transformer/ "
           "(config.json and diffusion_pytorch_model.safetensors), "
           "DIR/scheduler/scheduler_config.json and optionally DIR/vae/ -- e.g. "
           "unet.save_pretrained(DIR/'unet'); "
           "scheduler.save_pretrained(DIR/'scheduler')")


def _read_json(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DiffusersAdapterError(f"cannot read {path}: {err}") from None
    if not isinstance(doc, dict):
        raise DiffusersAdapterError(f"{path} is not a JSON object")
    return doc


def _listed(index: dict, key: str) -> bool:
    """``model_index.json`` lists the component ``key`` (not as ``[null, null]``)."""
    v = index.get(key)
    return isinstance(v, list) and bool(v) and v[0] is not None


def text_encoders(path) -> list[str]:
    """The text encoders a pipeline folder's ``model_index.json`` lists (``[]``: none, or
    no index)."""
    index = Path(path) / "model_index.json"
    if not index.is_file():
        return []
    listed = _read_json(index)
    return sorted(k for k in listed if k.startswith("text_encoder") and _listed(listed, k))


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
    if listed is not None or (root / "unet").is_dir() or (root / "transformer").is_dir():
        name = "unet" if (listed is None and (root / "unet").is_dir()) or (
            listed is not None and _listed(listed, "unet")) else "transformer"
        unet, sched = root / name, root / "scheduler" / "scheduler_config.json"
        vae_dir = root / "vae"
        if listed is not None:
            if not _listed(listed, name) or "scheduler" not in listed:
                raise DiffusersAdapterError(
                    f"{index} lists {sorted(k for k in listed if not k.startswith('_'))}; "
                    "revsde needs a 'unet' or a 'transformer', and a 'scheduler'")
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


def load_pipeline(path, *, dtype: torch.dtype | None = None, device=None):
    """The diffusers pipeline saved in the folder ``path`` (``pipe.save_pretrained``),
    loaded offline with its own classes; its VAE must be there."""
    root = Path(path)
    index = root / "model_index.json"
    if not index.is_file():
        find_components(root)  # a missing folder says so
        raise DiffusersAdapterError(
            f"{root} has no model_index.json, so it is not a pipeline folder: save the whole "
            "pipeline with pipe.save_pretrained(DIR) (a bare network takes no prompt)")
    listed = _read_json(index)
    if not _listed(listed, "vae") or not (root / "vae" / "config.json").is_file():
        raise DiffusersAdapterError(
            f"the pipeline folder {root} has no VAE ({root / 'vae'} is missing or "
            "model_index.json lists none): add the vae/ folder of the same model "
            "(vae.save_pretrained(DIR/'vae')) or save the whole pipeline with "
            "pipe.save_pretrained(DIR)")
    find_components(root)  # the network, scheduler and VAE folders, checked
    missing = [k for k in sorted(listed) if not k.startswith("_") and _listed(listed, k)
               and not (root / k).is_dir()]
    if missing:
        raise DiffusersAdapterError(
            f"the pipeline folder {root} lacks the folders {missing} that model_index.json "
            "lists; save the whole pipeline with pipe.save_pretrained(DIR)")
    diffusers = _diffusers()
    try:
        pipe = diffusers.DiffusionPipeline.from_pretrained(
            str(root), local_files_only=True,
            **({} if dtype is None else {"torch_dtype": dtype}))
    except ImportError as err:
        raise DiffusersAdapterError(
            f"loading the pipeline in {root} needs {str(err).splitlines()[0]}; pip install "
            "'revsde[diffusers]' (diffusers and transformers)") from None
    except (OSError, ValueError, RuntimeError, KeyError, TypeError, AttributeError) as err:
        raise DiffusersAdapterError(
            f"cannot load the pipeline from {root}: {str(err).strip().splitlines()[0]}") from None
    if dtype is not None:  # (torch_dtype leaves some diffusers networks as saved)
        for name in ("unet", "transformer", "vae"):
            module = getattr(pipe, name, None)
            if isinstance(module, torch.nn.Module):
                module.to(dtype=dtype)
    return pipe.to(device) if device is not None else pipe


def _diffusers():
    try:
        import diffusers
    except ImportError:
        raise DiffusersAdapterError(
            "loading a diffusers folder needs diffusers: pip install 'revsde[diffusers]'"
        ) from None
    return diffusers


def load_diffusers(path, *, dtype: torch.dtype | None = None, device=None,
                   guidance_scale: float | None = None, uncond: dict | None = None,
                   prediction: str | None = None, prompt: str | list[str] | None = None,
                   negative_prompt: str | list[str] | None = None,
                   **options) -> DiffusersModel:
    """A :class:`DiffusersModel` from a local diffusers folder, offline.

    Args:
        path: the folder (module docstring for the layouts).
        dtype, device: move the network (and VAE; with a prompt the whole pipeline)
            there; default: as saved, on the CPU.
        guidance_scale, uncond, prediction: as in :func:`from_diffusers`.
        prompt, negative_prompt: load the whole pipeline and condition it with
            :func:`~.pipelines.from_pipeline` (with ``guidance_scale`` and ``options``:
            ``height``, ``width``, ``true_cfg_scale``, ...); a folder without a text
            encoder takes no prompt.
        **options: without a prompt, a transformer's options of :func:`from_diffusers`
            (``distilled_guidance``, ``mu``, ``image_seq_len``, ``steps``).
    """
    if prompt is not None or negative_prompt is not None:
        from .pipelines import from_pipeline

        if (Path(path) / "model_index.json").is_file() and not text_encoders(path):
            raise DiffusersAdapterError(
                f"{path} has no text encoder, so its model is unconditional: drop the prompt "
                "(--prompt/prompt=) or give a text-to-image pipeline folder")
        if uncond is not None or prediction is not None:
            raise DiffusersAdapterError(
                "uncond= and prediction= are for a folder loaded without a prompt; with a "
                "prompt, negative_prompt= is the unconditional half")
        pipe = load_pipeline(path, dtype=dtype, device=device)
        return from_pipeline(pipe, prompt, negative_prompt, guidance_scale, **options)
    parts = find_components(path)
    diffusers = _diffusers()
    unet = _load(diffusers, parts["unet"], UNET_CLASSES, "network").eval()
    vae = None
    if parts["vae"] is not None:
        vae = _load(diffusers, parts["vae"], VAE_CLASSES, "VAE").eval()
    config = _read_json(parts["scheduler"])
    for module in (unet, vae):
        if module is not None and (dtype is not None or device is not None):
            module.to(device=device, dtype=dtype)
    return from_diffusers(unet, config, vae=vae, guidance_scale=guidance_scale, uncond=uncond,
                          prediction=prediction, **options)
