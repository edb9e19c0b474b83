"""The adapter's exception type."""

from __future__ import annotations

__all__ = ["DiffusersAdapterError"]


class DiffusersAdapterError(ValueError):
    """A diffusers model, scheduler, folder or input that the adapter cannot use; the
    message says what to change."""
