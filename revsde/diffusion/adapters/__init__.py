"""Adapters from other libraries' models to revsde's :class:`DiffusionModel`.

* :func:`from_diffusers`: a diffusers UNet (pixel or latent, with classifier-free
  guidance) and its scheduler; :func:`load_diffusers`: the same from a local folder.

diffusers stays optional: nothing here imports it until a folder is loaded.
"""

from .diffusers import PREDICTION_TYPES, DiffusersModel, DiffusersNet, from_diffusers
from .errors import DiffusersAdapterError
from .latent import LatentCodec
from .loading import find_components, load_diffusers
from .schedule import (
    BETA_SCHEDULES,
    ZERO_SNR_FLOOR,
    alphas_cumprod_from_config,
    betas_from_config,
    schedule_from_config,
)

__all__ = [
    "from_diffusers",
    "load_diffusers",
    "find_components",
    "DiffusersModel",
    "DiffusersNet",
    "DiffusersAdapterError",
    "LatentCodec",
    "PREDICTION_TYPES",
    "BETA_SCHEDULES",
    "ZERO_SNR_FLOOR",
    "alphas_cumprod_from_config",
    "betas_from_config",
    "schedule_from_config",
]
