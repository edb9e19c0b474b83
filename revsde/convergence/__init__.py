"""Convergence studies: strong and weak errors, order fits, plots.

* :func:`measure` — errors of one method on one problem over step sizes, with
  Monte Carlo confidence bands, and the fitted order beside the declared one;
* :func:`study` — every method that applies to each problem, and the skipped
  pairs with the reason;
* :data:`PROBLEMS` — built-in problems (:func:`register_problem` adds yours;
  :func:`register_method_family` adds methods that are neither core solvers nor
  diffusion samplers, e.g. gradient methods);
* :func:`fit_order` — the slope of log error against log h, with its
  uncertainty (scipy);
* :func:`roundtrip_errors` — forward-then-inverse errors of reversible methods;
* :func:`plot_convergence`, :func:`plot_roundtrip` — the figures;
* :func:`work_precision`, :func:`solver_runs`, :func:`plot_work_precision` — error
  against evaluations for fixed and adaptive grids (:class:`WorkPrecision`).
"""

from .fit import OrderFit, fit_order, mean_band
from .measure import (
    METHOD_FAMILIES,
    ConvergenceResult,
    Skipped,
    Study,
    list_methods,
    measure,
    register_method_family,
    study,
)
from .plots import plot_convergence, plot_roundtrip
from .problems import (
    PROBLEMS,
    Problem,
    SamplerProblem,
    SDEProblem,
    Setup,
    get_problem,
    list_problems,
    register_problem,
)
from .roundtrip import RoundTrip, roundtrip_errors
from .workprecision import (
    WorkPoint,
    WorkPrecision,
    plot_work_precision,
    solver_runs,
    strong_error,
    work_precision,
)

__all__ = [
    "METHOD_FAMILIES",
    "PROBLEMS",
    "ConvergenceResult",
    "OrderFit",
    "Problem",
    "RoundTrip",
    "SDEProblem",
    "SamplerProblem",
    "Setup",
    "Skipped",
    "Study",
    "WorkPoint",
    "WorkPrecision",
    "fit_order",
    "get_problem",
    "list_methods",
    "list_problems",
    "mean_band",
    "measure",
    "plot_convergence",
    "plot_roundtrip",
    "plot_work_precision",
    "register_method_family",
    "register_problem",
    "roundtrip_errors",
    "solver_runs",
    "strong_error",
    "study",
    "work_precision",
]
