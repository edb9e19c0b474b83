"""Reading ``torch.save`` files safely, with errors that never suggest an unsafe load.

``torch.load(..., weights_only=True)`` refuses pickled code; its message then
says that ``weights_only=False`` "will likely succeed" and how to allow-list
globals.  For a file that should hold only tensors and plain data (latents,
shipped weights) that advice is wrong and unsafe, so :func:`load_failure`
keeps the reason and drops those sentences.
"""

from __future__ import annotations

import re

__all__ = ["load_failure"]

#: sentences mentioning any of these are advice to load unsafely: dropped
_UNSAFE = ("weights_only", "safe_globals", "trust", "arbitrary code")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def load_failure(e: BaseException) -> str:
    """``"<Type>: <reason>"`` for a failed ``torch.load``, without torch's unsafe hints."""
    text = _ANSI.sub("", str(e))
    m = re.search(r"WeightsUnpickler error:\s*(.*)", text, flags=re.S)
    if m:
        text = m.group(1)
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    kept = [s for s in sentences if s and not any(h in s for h in _UNSAFE)]
    reason = " ".join(kept[:2]) if kept else "unreadable"
    if m:
        reason = f"it holds a pickled object, which revsde files never do ({reason})"
    return f"{type(e).__name__}: {reason}"
