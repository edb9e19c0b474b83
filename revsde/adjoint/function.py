"""The reversible adjoint as one ``torch.autograd.Function`` (docs/mathematics.md §6).

``forward`` runs the solve under ``torch.no_grad()`` and keeps only the final
state and the outputs at ``ts``.  ``backward`` walks the grid from the end to
the start with the solver's rule (:mod:`revsde.adjoint.rules`): reconstruct
the previous state by the inverse step, differentiate that step, inject the
incoming gradient of each output as its time is crossed.  The gradients equal
backpropagation through the same discrete solve up to round-off, in O(1)
memory in the number of steps.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from ..loop import Problem, check_replayable, walk
from ..solvers import SolverError
from ..solvers.base import State
from .rules import AdjointRule, GradSink, rule_for

DOUBLE_BACKWARD = (
    "double backward through the reversible adjoint is not supported (create_graph=True "
    "was requested); use adjoint=False to differentiate the solve twice"
)


def check_adjoint(problem: Problem) -> None:
    """Refuse the solves whose adjoint would be wrong or impossible, saying what to change."""
    solver = problem.solver
    if not solver.reversible:
        from ..registry import SOLVERS

        hint = f" (e.g. 'mcf_{solver.name}')" if f"mcf_{solver.name}" in SOLVERS else ""
        raise SolverError(
            f"adjoint=True needs a reversible method, and {solver.name!r} is not reversible; "
            f"use 'reversible_heun' or an 'mcf_*' wrapper{hint}, or adjoint=False to "
            "backpropagate through the solve"
        )
    quantum = getattr(solver, "quantum", None)  # exact mode's option (on the solvers that have it)
    if quantum is not None:
        raise ValueError(
            f"adjoint=True cannot be used with exact mode (quantum={quantum!r}): "
            "rounding to the grid has zero gradient, so the gradients would be wrong. Drop "
            "quantum (without it the adjoint is exact up to round-off), or use adjoint=False"
        )
    check_replayable(problem)


def collect_params(sde: object, params: Iterable[torch.Tensor] | torch.Tensor | None
                   ) -> list[torch.Tensor]:
    """The tensors to differentiate: ``params``, or the SDE module's trainable parameters."""
    if params is None:
        if isinstance(sde, nn.Module):
            return [p for p in sde.parameters() if p.requires_grad]
        return []
    if torch.is_tensor(params):
        params = [params]
    try:
        params = list(params)
    except TypeError:
        raise TypeError(
            f"params must be a list of tensors (e.g. list(model.parameters())); got "
            f"{type(params).__name__}"
        ) from None
    out, seen = [], set()
    for i, p in enumerate(params):
        if not torch.is_tensor(p):
            raise TypeError(
                f"params[{i}] is a {type(p).__name__}, not a tensor; pass tensors, e.g. "
                "params=list(model.parameters())"
            )
        if not p.requires_grad:
            raise ValueError(
                f"params[{i}] (shape {tuple(p.shape)}) does not require grad, so the adjoint "
                "cannot differentiate it; call .requires_grad_() on it or leave it out of "
                "params"
            )
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def _unlisted_leaves(outputs, leaves, params):
    """Tensors requiring grad that the step's graph reaches but ``params`` does not list."""
    allowed = {id(t) for t in leaves} | {id(t) for t in params}
    stops = {p.grad_fn for p in params if p.grad_fn is not None}
    outputs = [o for o in outputs if o is not None and o.requires_grad]
    found = [o for o in outputs if o.grad_fn is None and id(o) not in allowed]  # leaves
    stack = [o.grad_fn for o in outputs if o.grad_fn is not None]
    seen = set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        if node in stops:
            continue
        var = getattr(node, "variable", None)
        if var is not None:
            if id(var) not in allowed:
                found.append(var)
            continue
        stack.extend(nxt for nxt, _ in node.next_functions)
    return found


def _closure_check(params):
    def inspect(outputs, leaves):
        found = _unlisted_leaves(outputs, leaves, params)
        if found:
            shapes = ", ".join(str(tuple(t.shape)) for t in found[:5])
            more = f" and {len(found) - 5} more" if len(found) > 5 else ""
            raise ValueError(
                f"the drift/diffusion depends on {len(found)} tensor(s) that require grad but "
                f"are not in params (shapes {shapes}{more}); the adjoint would silently miss "
                "their gradients. Pass them (or the tensors they were computed from) in "
                "sdeint(..., params=[...]), or detach them / set requires_grad=False"
            )

    return inspect


def _aliases(t, tensors):
    ptr = t.untyped_storage().data_ptr()
    return any(ptr == x.untyped_storage().data_ptr() for x in tensors)


class AdjointFunction(torch.autograd.Function):
    """Inputs: the initial state tensors, then the params.  Outputs: ``ys``, final state."""

    @staticmethod
    def forward(ctx, rule, problem, n_state, show, *tensors):
        state = tuple(tensors[:n_state])
        params = tensors[n_state:]
        with torch.no_grad():
            ys, state = walk(problem, state, show=show)
            # An output must not share memory with an input (a cache may be a parameter).
            state = tuple(s.clone() if _aliases(s, tensors) else s for s in state)
        ctx.rule, ctx.problem, ctx.n_state, ctx.show = rule, problem, n_state, show
        ctx.params = params
        ctx.save_for_backward(*state)
        return (ys, *state)

    @staticmethod
    def backward(ctx, grad_ys, *grad_state):
        if torch.is_grad_enabled():
            raise NotImplementedError(DOUBLE_BACKWARD)
        rule, problem, params = ctx.rule, ctx.problem, ctx.params
        # The saved outputs require grad: detach them, or every reconstructed state would
        # hang on to a graph back to the end of the solve (O(N) memory).
        state = tuple(s.detach() for s in ctx.saved_tensors)
        out_idx = problem.out_idx
        inject = {out_idx[k]: grad_ys[k] for k in range(len(out_idx) - 1)}
        cot = (grad_state[0] + grad_ys[-1],) + tuple(grad_state[1:])
        with torch.enable_grad(), GradSink(params) as sink:
            cot = rule.run(problem, state, cot, sink, inject, _closure_check(params),
                           show=ctx.show)
        needs = ctx.needs_input_grad[4:]
        state_grads = tuple(g if need else None for g, need in zip(cot, needs))
        param_grads = sink.result()
        return (None, None, None, None, *state_grads, *param_grads)


def adjoint_solve(problem: Problem, state0: State, params: list[torch.Tensor] | None = None,
                  show: bool = False, rule: AdjointRule | None = None
                  ) -> tuple[torch.Tensor, State]:
    """Solve ``problem`` from ``state0`` with exact O(1)-memory gradients.

    Args:
        problem: a :class:`revsde.loop.Problem` with a reversible solver.
        state0: the solver's initial state (tuple of tensors).
        params: tensors to differentiate besides the state; default: the SDE's
            parameters that require grad, if it is an ``nn.Module``.
        show: progress bars for the forward and the backward walks.
        rule: the backward-step rule (default: :func:`rule_for` the solver).

    Returns:
        ``(ys, final_state)``: the outputs at the problem's output times,
        stacked, and the full state at the last time.
    """
    check_adjoint(problem)
    params = collect_params(problem.sde.base, params)
    state0 = tuple(state0)
    for i, s in enumerate(state0):
        if not torch.is_tensor(s):
            raise TypeError(f"state[{i}] must be a tensor; got {type(s).__name__}")
    if rule is None:
        rule = rule_for(problem.solver)
    out = AdjointFunction.apply(rule, problem, len(state0), show, *state0, *params)
    return out[0], tuple(out[1:])


class ReversibleAdjoint:
    """The gradient strategy of a reversible solve: ``sdeint(..., adjoint=ReversibleAdjoint())``.

    ``adjoint=True`` is the shortcut for ``ReversibleAdjoint()``.  The forward
    walk keeps no graph; the backward walk rebuilds each state with the
    solver's exact inverse and differentiates one step at a time (docs/mathematics.md §6),
    so memory is O(1) in the number of steps.

    Args:
        generic: use :class:`~revsde.adjoint.rules.GenericRule` (inverse, then
            re-run the step with the graph on) even where a solver has a fused
            rule; slower, for checking a rule against the generic one.
    """

    def __init__(self, generic: bool = False):
        if not isinstance(generic, bool):
            raise TypeError(f"generic must be True or False; got {generic!r}")
        self.generic = generic

    def __repr__(self) -> str:
        return f"ReversibleAdjoint(generic={self.generic})"

    def solve(self, problem: Problem, state0: State, params: list[torch.Tensor] | None = None,
              show: bool = False) -> tuple[torch.Tensor, State]:
        """``(ys, final_state)`` of ``problem`` from ``state0``, differentiable in O(1) memory."""
        from .rules import GenericRule

        rule = GenericRule(problem.solver) if self.generic else None
        return adjoint_solve(problem, state0, params, show=show, rule=rule)
