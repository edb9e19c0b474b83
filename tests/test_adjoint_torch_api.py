"""The private torch details the reversible adjoint relies on, checked loudly.

``revsde.adjoint.rules.GradSink`` sets a parameter's tensor hooks aside during the
per-step backward passes (``torch.autograd.grad`` calls a leaf's hooks whenever it
computes that leaf's gradient, so they would run once per step with a partial
gradient) by emptying and refilling the tensor's ``_backward_hooks`` dictionary:
PyTorch has no public call that suspends hooks without their handles.  If a torch
release drops that dictionary or stops reading it at call time, these tests fail
with a message naming the dependency, instead of the adjoint silently calling a
user's hooks once per step.
"""

from __future__ import annotations

import torch

from revsde.adjoint.rules import GradSink

WHY = ("revsde's reversible adjoint suspends parameter hooks through Tensor._backward_hooks "
       "(revsde/adjoint/rules.py, GradSink); this torch changed that private detail")


def test_autograd_grad_calls_leaf_hooks():
    """The reason for the set-aside: the public call runs a leaf's hooks."""
    p = torch.nn.Parameter(torch.ones(3))
    calls = []
    p.register_hook(lambda g: calls.append(1))
    torch.autograd.grad((2 * p).sum(), [p])
    assert calls == [1]


def test_backward_hooks_dict_suspends_hooks():
    p = torch.nn.Parameter(torch.ones(3))
    calls = []
    p.register_hook(lambda g: calls.append(1))
    assert isinstance(getattr(p, "_backward_hooks", None), dict), WHY
    with GradSink([p]) as sink:
        assert not p._backward_hooks, WHY
        sink.vjp([(2 * p).sum()], [torch.tensor(1.0)], [])
    assert calls == [], WHY
    assert len(p._backward_hooks) == 1, WHY  # refilled on exit
    torch.autograd.grad((2 * p).sum(), [p])
    assert calls == [1], WHY
    torch.testing.assert_close(sink.result()[0], torch.full((3,), 2.0))


def test_non_leaf_hooks_suspended_too():
    base = torch.ones(3, requires_grad=True)
    a = base * 2
    calls = []
    a.register_hook(lambda g: calls.append(1))
    with GradSink([a]) as sink:
        sink.vjp([(3 * a).sum()], [torch.tensor(1.0)], [])
    assert calls == [], WHY


ENGINE_WHY = ("revsde's reversible adjoint calls torch.autograd.graph._engine_run_backward "
              "per step (revsde/adjoint/rules.py, ENGINE_GRAD: 12-16% of the adjoint's time "
              "at bench_memory's setting); this torch lacks it or changed its signature")


def test_engine_call_present():
    from revsde.adjoint import rules

    assert rules.ENGINE_GRAD is not None, ENGINE_WHY


def test_engine_call_gives_the_public_bits(monkeypatch):
    """The adjoint's gradients through the engine call equal those of torch.autograd.grad."""
    import revsde
    from revsde.adjoint import rules

    torch.manual_seed(0)
    lin = torch.nn.Linear(3, 3).double()

    class SDE(torch.nn.Module):
        noise_type, sde_type = "diagonal", "stratonovich"

        def __init__(self):
            super().__init__()
            self.lin = lin

        def f(self, t, y):
            return torch.tanh(self.lin(y))

        def g(self, t, y):
            return 0.2 * torch.sigmoid(y)

    def grads():
        y0 = torch.randn(2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1),
                         requires_grad=True)
        sol = revsde.sdeint(SDE(), y0, torch.tensor([0.0, 1.0], dtype=torch.float64),
                            dt=0.1, entropy=3, adjoint=True)
        return torch.autograd.grad(sol.ys[-1].square().sum(), [y0, *lin.parameters()])

    fast = grads()
    monkeypatch.setattr(rules, "ENGINE_GRAD", None)
    public = grads()
    assert all(torch.equal(a, b) for a, b in zip(fast, public))
