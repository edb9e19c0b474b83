"""The one private torch detail the reversible adjoint relies on, checked loudly.

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
