"""Backward steps of the reversible adjoint, one rule per reversible solver
(docs/mathematics.md §6).

A rule walks the solve backwards one step at a time.  Given the state at
``t_{n+1}`` and the cotangents of that state, :meth:`AdjointRule.step`

1. reconstructs the state at ``t_n`` with the inverse step, evaluating the
   drift and diffusion *with* an autograd graph on detached leaves;
2. takes the vector-Jacobian product of the forward step from those very
   evaluations (no second re-run), which gives the cotangents at ``t_n``;
3. sends the parameter gradients of the step to the :class:`GradSink`.

Only the graph of the current step (for Reversible Heun: of one evaluation)
is alive at any time, so memory is O(1) in the number of steps.

Rules are matched to solvers by exact type (:func:`rule_for`); any other
reversible solver gets :class:`GenericRule` (inverse, then re-run the step
with the graph on), which is correct for every ``step``/``inverse`` pair but
evaluates twice per step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Literal

import torch
from torch.overrides import has_torch_function

from ..loop import Problem, progress
from ..sde import SDEAdapter
from ..solvers import McCallumFoster, ReversibleHeun, Solver
from ..solvers.base import State, Tape
from ..solvers.reversible_heun import Half


def _pairs(outputs, cotangents):
    """The (output, cotangent) pairs that carry a graph, cotangents summed to shape."""
    outs, cots = [], []
    for o, c in zip(outputs, cotangents):
        if c is not None and o is not None and o.requires_grad:
            if c.shape != o.shape:  # o was broadcast into the state: sum the cotangent
                c = c.sum_to_size(o.shape)
            outs.append(o)
            cots.append(c)
    return outs, cots


def _engine_call() -> Callable | None:
    """The engine call behind ``torch.autograd.grad`` (``None`` where this torch lacks it,
    or where it disagrees with the public call on a probe).

    The one private call of the adjoint, kept for a measured reason: ``torch.autograd.grad``
    spends about 45 µs per call validating its arguments in Python (``_make_grads``), as
    much as a small network's backward.  The adjoint calls it once per step, and on
    ``benchmarks/bench_memory.py``'s setting (MLP width 128, batch 64, 1000 steps) that is
    12–16% of the whole adjoint.  ``tests/test_adjoint_torch_api.py`` fails loudly on a
    torch without it, and checks that it gives the public call's bits.
    """
    run = getattr(torch.autograd.graph, "_engine_run_backward", None)
    if run is None:
        return None

    def grad(outs: Sequence, inputs: Sequence, cots: Sequence) -> tuple:
        return run(tuple(outs), tuple(cots), False, False, tuple(inputs), True, False)

    try:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        z = torch.tensor([3.0], requires_grad=True)
        ref = torch.autograd.grad([(x * x).sum() * 3.0], [x, z], [torch.tensor(2.0)],
                                  allow_unused=True)
        got = grad([(x * x).sum() * 3.0], [x, z], [torch.tensor(2.0)])
        if got[1] is None and ref[1] is None and torch.equal(got[0], ref[0]):
            return grad
    except Exception:  # noqa: BLE001 - any failure means: use the public call
        pass
    return None


#: the engine call, probed once at import (``None``: the public ``torch.autograd.grad``)
ENGINE_GRAD = _engine_call()


def vjp(outputs: Sequence, cotangents: Sequence, inputs: Sequence) -> list:
    """``Σ_i cotangent_i · ∂output_i/∂inputs`` as a list aligned with ``inputs``.

    Outputs that carry no graph (constant in every input) are skipped; an input
    that no output depends on gets ``None``.
    """
    outs, cots = _pairs(outputs, cotangents)
    if not outs:
        return [None] * len(inputs)
    if ENGINE_GRAD is not None and not has_torch_function((*outs, *inputs)):
        return list(ENGINE_GRAD(outs, inputs, cots))
    return list(torch.autograd.grad(outs, inputs, cots, allow_unused=True))


def add_(acc: list, grads: list) -> None:
    """Accumulate ``grads`` (entries may be None) into the list ``acc`` in place."""
    for i, g in enumerate(grads):
        if g is None:
            continue
        if acc[i] is None:
            acc[i] = g.clone()  # autograd may hand back a cotangent itself: own the buffer
        else:
            acc[i].add_(g)


class GradSink:
    """Where the backward steps send their parameter gradients.

    :meth:`vjp` differentiates one step's outputs with respect to its detached
    leaves *and* the parameters (one engine call, :func:`vjp`), returns the
    leaves' cotangents and adds the parameter gradients to a running sum;
    :meth:`result` gives the sums, which the outer backward hands to autograd
    once, as for any other operation.

    The parameters' tensor hooks (``p.register_hook``) are set aside while the
    sink is open (a context manager): ``torch.autograd.grad`` calls a leaf's
    hooks whenever it computes that leaf's gradient, so the per-step passes
    would call them once per step with a partial gradient.  The outer backward
    calls them once, with the whole gradient.  PyTorch has no public way to
    suspend a tensor's hooks without the handles their owner holds, so this
    empties and refills the tensor's own hook dictionary (``_backward_hooks``);
    ``tests/test_adjoint_torch_api.py`` fails loudly on a torch where that
    dictionary is gone or no longer suspends the hooks.
    """

    def __init__(self, params: list[torch.Tensor]):
        self.params = list(params)
        self.acc: list[torch.Tensor | None] = [None] * len(self.params)
        self._hooks: list = []

    def __enter__(self) -> GradSink:
        # Empty the hook dicts in place (autograd reads them at call time, from the tensor
        # for a leaf and from its grad_fn for a non-leaf), and refill them on exit.
        self._hooks = [(p._backward_hooks, list(p._backward_hooks.items()))
                       for p in self.params if p._backward_hooks]
        for hooks, _ in self._hooks:
            hooks.clear()
        return self

    def __exit__(self, *exc) -> Literal[False]:
        for hooks, items in self._hooks:
            hooks.update(items)
        self._hooks = []
        return False

    def vjp(self, outputs: Sequence, cotangents: Sequence, leaves: Sequence) -> list:
        """Cotangents of ``leaves`` (None where unreached); parameter gradients are summed."""
        g = vjp(outputs, cotangents, [*leaves, *self.params])
        add_(self.acc, g[len(leaves):])
        return g[: len(leaves)]

    def result(self) -> tuple[torch.Tensor, ...]:
        """The summed parameter gradients (zeros for a parameter no step reached)."""
        return tuple(torch.zeros_like(p) if g is None else g
                     for p, g in zip(self.params, self.acc))


def _plus(a, b):
    return a if b is None else a + b


def leaf(x: torch.Tensor) -> torch.Tensor:
    """A detached copy of ``x`` that starts a fresh graph."""
    return x.detach().requires_grad_()


def prod_vjp(sde: SDEAdapter, a: torch.Tensor, w: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Transpose of the noise contraction: ``∂<a, g·W>/∂g`` (see ``SDEAdapter.prod``)."""
    if sde.elementwise:
        out = a * w
    else:
        shape = (w.shape[0],) + (1,) * (g.dim() - 2) + (w.shape[-1],)
        out = a.unsqueeze(-1) * w.reshape(shape)
    return out if out.shape == g.shape else out.sum_to_size(g.shape)


class AdjointRule:
    """Backward stepping for one solver.  Stateless: the walk carries the state and cotangents."""

    def __init__(self, solver: Solver):
        self.solver = solver

    def steps(self, problem: Problem, show: bool) -> Iterable[int]:
        """The step indices of the backward walk, behind a progress bar if ``show``."""
        return progress(range(problem.steps - 1, -1, -1), show,
                        f"{problem.solver.name} (adjoint)")

    def run(self, problem: Problem, state: State, cot: tuple, sink: GradSink, inject: dict,
            inspect: Callable | None = None, show: bool = False) -> tuple:
        """Walk the whole solve backwards; return the cotangents of the initial state.

        ``state`` is the final state, ``cot`` its cotangents; ``inject`` maps a
        step index ``n`` to the cotangent of the output ``y(t_n)``, added to
        ``y``'s cotangent as the walk crosses ``t_n``.  The default walks
        :meth:`step` by :meth:`step`; a rule may fuse the loop instead.
        """
        for n in self.steps(problem, show):
            state, cot = self.step(problem, n, state, cot, sink, inspect)
            inspect = None
            extra = inject.get(n)
            if extra is not None:
                cot = (cot[0] + extra,) + tuple(cot[1:])
        return cot

    def step(self, problem: Problem, n: int, state: State, cot: tuple, sink: GradSink,
             inspect: Callable | None = None) -> tuple[State, tuple]:
        """Return ``(state_n, cot_n)`` from ``state_{n+1}`` and ``cot_{n+1}``.

        ``inspect``, if given, is called as ``inspect(outputs, leaves)`` with the
        step's graph-carrying evaluations and the detached leaves they start
        from, before they are differentiated.
        """
        raise NotImplementedError


class McCallumFosterRule(AdjointRule):
    """McCallum–Foster wrapper (docs/mathematics.md (McCallum–Foster)): the inverse step
    evaluates ``B`` and ``A``.

    Forward step: ``y1 = ζ y0 + (1-ζ) ŷ0 + A(ŷ0)``, ``ŷ1 = ŷ0 - B(y1)`` with
    ``A = Ψ_h(t0, ·)`` and ``B = Ψ_{-h}(t1, ·; -W, H)``.  The solver's own inverse
    evaluates ``B`` at ``y1`` and ``A`` at ``ŷ0``: exactly the two increments of the
    forward step, here on fresh leaves with the graph on (a
    :class:`~revsde.solvers.base.Tape`).  The cotangent recursion is

      ``ā_y1 = a_y1 - J_Bᵀ a_ŷ1``
      ``a_y0 = ζ ā_y1``
      ``a_ŷ0 = a_ŷ1 + (1-ζ) ā_y1 + J_Aᵀ ā_y1``
      ``a_θ += J_A,θᵀ ā_y1 - J_B,θᵀ a_ŷ1``.

    ``ā_y1`` needs the ``B`` product before the ``A`` product can start, so a
    step makes two ``autograd.grad`` calls, each over half of the step's graph.

    In compensated arithmetic the state is ``(y, ŷ, y·lo, ŷ·lo)``: a sum hands on the
    derivative of its exact value in ``hi`` (its ``lo`` is a rounding error, of zero
    derivative), and the increments are evaluated at ``hi``; so the recursion above is
    that of the ``hi`` parts, and the ``lo`` parts' cotangents are those of the values
    without the Jacobian terms: ``a_y0·lo = ζ ā_y1``, ``a_ŷ0·lo = a_ŷ1 + (1-ζ) ā_y1``.
    """

    solver: McCallumFoster

    def step(self, problem: Problem, n: int, state: State, cot: tuple, sink: GradSink,
             inspect: Callable | None = None) -> tuple[State, tuple]:
        solver = self.solver
        zeta = solver.zeta
        tape = Tape()
        prev = solver.inverse(problem.sde, problem.step_at(n), state, problem.dw(n), tape)
        (y1_l, yh0_l), (b, a) = tape.leaves, tape.outputs
        a_y1, a_yh1 = cot[0], cot[1]
        if inspect is not None:
            inspect([b, a], [y1_l, yh0_l])
        gb = sink.vjp([b], [-a_yh1], [y1_l])
        abar = _plus(a_y1, gb[0])
        ga = sink.vjp([a], [abar], [yh0_l])
        a_y0 = abar if zeta == 1.0 else zeta * abar
        a_yh0 = a_yh1 if zeta == 1.0 else a_yh1 + (1.0 - zeta) * abar
        lows = (a_y0, a_yh0) if solver.compensated else ()
        return prev, (a_y0, _plus(a_yh0, ga[0])) + lows


class ReversibleHeunRule(AdjointRule):
    """Reversible Heun (docs/mathematics.md §2): one graph-enabled evaluation per step, fused loop.

    State ``(y, ŷ, F)`` with the cache ``F = E(ŷ) = (f, g)(ŷ)``; write
    ``R_n(F) = f h_n + g·W_n``.  Forward step ``n``, through the midpoint
    ``m_n = y_n + ½R_n(F_n)``:

      ``ŷ_{n+1} = 2 m_n - ŷ_n``,  ``F_{n+1} = E(t_{n+1}, ŷ_{n+1})``,
      ``y_{n+1} = m_n + ½R_n(F_{n+1})``.

    **Cotangents.**  With ``c = a_F_{n+1} + ½R_nᵀ a_y_{n+1}`` (the total
    cotangent of ``F_{n+1}``) and ``J_E`` the Jacobian of the evaluation at
    ``ŷ_{n+1}``:

      ``ā_n = a_ŷ_{n+1} + J_Eᵀ c``,  ``a_θ += J_E,θᵀ c``,  ``v_n = ā_n + ½a_y_{n+1}``,
      ``a_y_n = 2 v_n``,  ``a_ŷ_n = -ā_n``,  ``a_F_n = R_nᵀ v_n``.

    The loop keeps these lazily, as ``v`` and ``ā``: then the next step's
    ``c = R_nᵀ v_n + R_{n-1}ᵀ v_n = ((h_n + h_{n-1}) v_n, (W_n + W_{n-1})·v_n)``
    costs two products, and ``ā_{n-1} = J_Eᵀ c - ā_n``, ``v_{n-1} = ā_{n-1} + v_n``
    one operation each (an output at ``t_n`` adds ``½ ∂L/∂y(t_n)`` to the ``v``
    that ``a_y_n = 2v`` stands for, and the two products then stay apart).

    **States.**  The inverse needs only the midpoints:
    ``m_{n-1} = y_n - ½R_{n-1}(F_n) = m_n - ½(h_n + h_{n-1}) f_n - ½ g_n·(W_n + W_{n-1})``,
    the same noise sum as the cotangents; ``ŷ_{n-1} = 2 m_{n-1} - ŷ_n`` (one ``lerp``) and
    ``F_{n-1} = E(t_{n-1}, ŷ_{n-1})``, evaluated with the graph on, on a detached
    leaf, and differentiated at the next iteration.  The ``y_n`` themselves are
    never needed.  The backward makes N evaluations and N engine calls in all,
    like backpropagation, and holds one step's graph at a time.
    """

    solver: ReversibleHeun

    @staticmethod
    def _rt(sde: SDEAdapter, terms: list, like: tuple) -> tuple:
        """``Σ R_kᵀ v_k`` over ``terms = [(v, h, W), ...]``, in the shapes of the cache ``like``.

        A cache entry broadcast against the state (a drift of shape ``(d,)``, say)
        gets the sum of its cotangent over the broadcast dimensions.
        """
        ft = gt = None
        for v, h, w in terms:
            a = v * h
            ft = a if ft is None else ft.add_(a)
            if w is not None:
                b = v * w if sde.elementwise else prod_vjp(sde, v, w, like[1])
                gt = b if gt is None else gt.add_(b)
        assert ft is not None, "terms holds at least one step"
        if ft.shape != like[0].shape:
            ft = ft.sum_to_size(like[0].shape)
        if gt is None:
            return (ft,)
        if gt.shape != like[1].shape:
            gt = gt.sum_to_size(like[1].shape)
        return (ft, gt)

    def run(self, problem: Problem, state: State, cot: tuple, sink: GradSink, inject: dict,
            inspect: Callable | None = None, show: bool = False) -> tuple:
        sde, solver, rt, ar = problem.sde, self.solver, self._rt, self.solver.arith
        y_end, yh1, a_c = state[0], state[1], tuple(cot[2:])
        u = cot[0] * 0.5  # a_y = 2u  (scaling by ½ is exact)
        ab = torch.neg(cot[1])  # ā, with a_ŷ = -ā
        v = None  # a_F = R_{n+1}ᵀ v; None: a_F is the given a_c (first step)
        yl = leaf(yh1)
        fg = solver.evaluate(sde, problem.t(problem.steps), yl, problem.at(problem.steps))
        if inspect is not None:
            inspect(fg, [yl])
        f1 = tuple([c.detach() for c in fg])
        like = f1  # the cache's shapes (the same at every step)
        h1 = w1 = m = None  # step n+1's h and W; the midpoint m_n
        for n in self.steps(problem, show):
            h, dw = problem.h(n), problem.dw(n)
            w = None if dw is None else dw[0]
            # The cotangent of F_{n+1}: c = a_F + ½R_nᵀ a_y.
            if v is None:
                c = tuple(map(torch.add, a_c, rt(sde, [(u, h, w)], like)))
            else:
                # v, h1 and w1 are set together, at the end of a step (w1: None for an ODE)
                assert h1 is not None and (w1 is None) == (w is None)
                hs, ws = h1 + h, (None if w is None or w1 is None else w1 + w)
                terms = [(v, hs, ws)] if u is v else [(v, h1, w1), (u, h, w)]
                c = rt(sde, terms, like)
            if n > 0:  # reconstruct ŷ_n and evaluate F_n with the graph on
                if m is None:
                    m = ar.add(y_end, Half(sde, f1, h, dw, -0.5))
                else:
                    m = ar.add(m, Half(sde, f1, hs, None if ws is None else (ws,), -0.5))
                yh0 = ar.mirror(yh1, m)
                yl0 = leaf(yh0)
                fg0 = solver.evaluate(sde, problem.t(n), yl0, problem.at(n))
            g = sink.vjp(fg, c, [yl])[0]
            ab = torch.neg(ab) if g is None else torch.sub(g, ab)
            v = torch.add(ab, u)
            extra = inject.get(n)
            u = v if extra is None else torch.add(v, extra, alpha=0.5)
            h1, w1 = h, w
            if n > 0:
                yh1, yl, fg = yh0, yl0, fg0
                f1 = tuple([c.detach() for c in fg])
        return (u * 2.0, torch.neg(ab)) + rt(sde, [(v, h1, w1)], like)


class GenericRule(AdjointRule):
    """Any reversible solver: inverse without a graph, then re-run the step with it.

    Correct for every ``step``/``inverse`` pair, at the price of a second set of
    evaluations per step (docs/mathematics.md §6, steps 1-3).
    """

    def step(self, problem: Problem, n: int, state: State, cot: tuple, sink: GradSink,
             inspect: Callable | None = None) -> tuple[State, tuple]:
        with torch.no_grad():
            prev = problem.inverse(n, state)
        leaves = [leaf(s) for s in prev]
        out = problem.step(n, tuple(leaves))
        if inspect is not None:
            inspect(out, leaves)
        g = sink.vjp(out, cot, leaves)
        cot0 = tuple(torch.zeros_like(s) if gi is None else gi for s, gi in zip(prev, g))
        return tuple(prev), cot0


RULES = {McCallumFoster: McCallumFosterRule, ReversibleHeun: ReversibleHeunRule}


def rule_for(solver: Solver) -> AdjointRule:
    """The backward-step rule for ``solver`` (exact type match, else generic).

    Reversible Heun's fused rule runs its midpoints in plain arithmetic; a compensated
    Reversible Heun gets the generic rule, which differentiates its own step on pairs.
    """
    rule = RULES.get(type(solver), GenericRule)
    if rule is ReversibleHeunRule and solver.compensated:
        rule = GenericRule
    return rule(solver)
