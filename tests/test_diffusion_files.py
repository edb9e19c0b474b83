"""Corrupt files: clear errors that never repeat torch's advice to load unsafely."""

import collections

import pytest
import torch

from revsde.diffusion import Latents, LatentsFileError
from revsde.diffusion.pretrained import load_record
from revsde.diffusion.serialization import load_failure

UNSAFE = ("weights_only", "will likely succeed", "safe_globals", "arbitrary code")


class _Pickled:
    """Any class: torch.load(weights_only=True) refuses to unpickle it."""


def _files(tmp_path):
    pickled = tmp_path / "pickled.pt"
    torch.save({"format": "revsde-latents", "x": _Pickled(), "d": collections.Counter()},
               pickled)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(pickled.read_bytes()[:60])
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    return {"pickled": pickled, "truncated": truncated, "junk": junk}


def test_torch_itself_gives_the_unsafe_hint(tmp_path):
    """The reason for this module: torch's message advises weights_only=False."""
    with pytest.raises(Exception) as e:
        torch.load(_files(tmp_path)["pickled"], weights_only=True)
    assert "weights_only" in str(e.value)
    reason = load_failure(e.value)
    assert "_Pickled" in reason and "pickled object" in reason
    assert not any(h in reason for h in UNSAFE), reason


@pytest.mark.parametrize("kind", ["pickled", "truncated", "junk"])
def test_latents_file_error_has_no_unsafe_hint(tmp_path, kind):
    with pytest.raises(LatentsFileError, match="corrupt or not a latents file") as e:
        Latents.load(_files(tmp_path)[kind])
    assert not any(h in str(e.value) for h in UNSAFE), str(e.value)


@pytest.mark.parametrize("kind", ["pickled", "truncated", "junk"])
def test_weight_file_error_has_no_unsafe_hint(tmp_path, kind):
    with pytest.raises(ValueError, match="not a readable revsde weight file") as e:
        load_record(_files(tmp_path)[kind])
    assert not any(h in str(e.value) for h in UNSAFE), str(e.value)
