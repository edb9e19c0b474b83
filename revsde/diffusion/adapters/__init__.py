"""Adapters from other libraries' models to revsde's :class:`DiffusionModel`.

* :func:`from_diffusers`: a diffusers UNet (pixel or latent, with classifier-free
  guidance) and its scheduler, or a flow-matching transformer (SD3, FLUX.1, FLUX.2,
  Lumina 2: :mod:`.transformers`) and its ``FlowMatchEulerDiscreteScheduler``
  (:mod:`.flow_schedule`); :func:`load_diffusers`: a UNet from a local folder.

diffusers stays optional: nothing here imports it until a folder is loaded.
"""

from .diffusers import PREDICTION_TYPES, DiffusersModel, DiffusersNet, from_diffusers
from .errors import DiffusersAdapterError
from .flow_schedule import (
    FLOW_DEFAULTS,
    flow_schedule_from_config,
    flow_scheduler_config,
    flux2_mu,
    linear_mu,
)
from .latent import LatentCodec
from .loading import find_components, load_diffusers
from .schedule import (
    BETA_SCHEDULES,
    ZERO_SNR_FLOOR,
    alphas_cumprod_from_config,
    betas_from_config,
    schedule_from_config,
)
from .transformers import (
    FLOW_FAMILIES,
    FlowDiffusersModel,
    FlowFamily,
    FlowTransformerNet,
    pack_2x2,
    unpack_2x2,
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
    "FLOW_FAMILIES",
    "FlowFamily",
    "FlowTransformerNet",
    "FlowDiffusersModel",
    "pack_2x2",
    "unpack_2x2",
    "FLOW_DEFAULTS",
    "flow_scheduler_config",
    "flow_schedule_from_config",
    "linear_mu",
    "flux2_mu",
]
