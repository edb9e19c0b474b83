"""Diffusion models on the revsde core: schedules, models, oracles, samplers, inversion.

* schedules (:mod:`.schedules`): ``VPLinear``, ``VPCosine``, ``VPDiscrete``,
  ``VPScaledLinear``, ``VE``, ``FlowMatching``, ``time_grid``;
* the model wrapper ``DiffusionModel`` and the oracles of docs/mathematics.md §9;
* ``LiftedProblem``: the lifted equations of docs/mathematics.md §4.2;
* samplers (:mod:`.samplers`): ``list_samplers``, ``get_sampler``; the one-step
  method of ``rev_heun_exp``: ``ExponentialReversibleHeun`` (now in
  :mod:`revsde.solvers.exp_reversible_heun`, re-exported here);
* inversion (:mod:`.inversion`): ``encode``, ``decode``, ``sample``, ``edit``, ``regenerate`` and
  ``Latents``; classifier-free guidance as a model: ``classifier_free`` (:mod:`.guidance`);
* exact-inversion baselines (:mod:`.baselines`): DDIM inversion, EDICT, BDIA, O-BELM;
* the shipped model (:mod:`.pretrained`): ``pretrained``, ``list_pretrained``.

Application code (pictures, the inversion demo) lives in :mod:`revsde.app`.
"""

from ..solvers.exp_reversible_heun import ExponentialReversibleHeun
from . import baselines
from .adapters import from_diffusers, from_pipeline, load_diffusers
from .gradients import GradientError, GradientResult, gradient, list_gradient_methods
from .guidance import GuidanceError, classifier_free
from .inversion import (
    EditError,
    EditResult,
    Latents,
    LatentsFileError,
    decode,
    decode_state,
    edit,
    encode,
    exact_quantum,
    regenerate,
    sample,
)
from .models import PREDICTIONS, DiffusionModel
from .oracles import GaussianMixtureOracle, GaussianOracle, IdealDenoiser
from .pretrained import list_pretrained, pretrained
from .samplers import LIFTED_CASES, LiftedProblem, get_sampler, list_samplers
from .schedules import (
    GRID_KINDS,
    SCHEDULES,
    VE,
    FlowMatching,
    NoiseSchedule,
    VPCosine,
    VPDiscrete,
    VPLinear,
    VPScaledLinear,
    schedule_from_dict,
    time_grid,
)

__all__ = [
    # schedules
    "NoiseSchedule",
    "VPLinear",
    "VPCosine",
    "VPDiscrete",
    "VPScaledLinear",
    "VE",
    "FlowMatching",
    "SCHEDULES",
    "GRID_KINDS",
    "schedule_from_dict",
    "time_grid",
    # models and oracles
    "DiffusionModel",
    "PREDICTIONS",
    "GaussianOracle",
    "GaussianMixtureOracle",
    "IdealDenoiser",
    # lifted equations
    "LiftedProblem",
    "LIFTED_CASES",
    # samplers
    "list_samplers",
    "get_sampler",
    "ExponentialReversibleHeun",
    # inversion
    "encode",
    "decode",
    "decode_state",
    "sample",
    "exact_quantum",
    "edit",
    "regenerate",
    "EditResult",
    "EditError",
    "classifier_free",
    "GuidanceError",
    "Latents",
    "LatentsFileError",
    # baselines and the shipped model
    "baselines",
    "pretrained",
    "list_pretrained",
    "from_diffusers",
    "from_pipeline",
    "load_diffusers",
    # gradients through sampling
    "gradient",
    "list_gradient_methods",
    "GradientResult",
    "GradientError",
]
