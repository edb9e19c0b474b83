"""Adapters from other libraries' models to revsde's :class:`DiffusionModel`.

* :func:`from_diffusers`: a diffusers UNet (pixel or latent, with classifier-free
  guidance) and its scheduler, or a flow-matching transformer (SD3, FLUX.1, FLUX.2,
  Lumina 2: :mod:`.transformers`) and its ``FlowMatchEulerDiscreteScheduler``
  (:mod:`.flow_schedule`);
* :func:`from_pipeline`: a whole pipeline (SD 1.x/2.x, SDXL, SD3, FLUX.1) with its
  prompts encoded by its own text encoders and its VAE (:mod:`.pipelines`);
* :func:`load_diffusers`: a local folder (a UNet, or a pipeline with ``prompt=``);
  :func:`load_pipeline`: a local pipeline folder as a diffusers pipeline, offline.

diffusers stays optional: nothing here imports it until a folder is loaded.
"""

from .determinism import attention_backends, check_attention
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
from .loading import find_components, load_diffusers, load_pipeline
from .pipelines import PIPELINE_FAMILIES, from_pipeline, pipeline_family
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
    "from_pipeline",
    "load_diffusers",
    "load_pipeline",
    "PIPELINE_FAMILIES",
    "pipeline_family",
    "check_attention",
    "attention_backends",
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
