"""docs/howto-diffusers.md, its flow-matching section: the ``py`` blocks run, in order, against
tiny transformers with random weights saved into folders named like the checkpoints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import test_diffusers_flow_cases as C
import torch
from page_code import blocks, run_blocks

PAGE = Path(__file__).resolve().parents[1] / "docs" / "howto-diffusers.md"
FOLDERS = {"sd3": "stable-diffusion-3.5-medium", "flux": "FLUX.1-dev", "flux2": "FLUX.2-dev",
           "lumina2": "Lumina-Image-2.0"}


@pytest.fixture()
def checkpoints(tmp_path, monkeypatch):
    for family, name in FOLDERS.items():
        C.transformer(family).save_pretrained(tmp_path / name / "transformer")
        C.scheduler(family).save_pretrained(tmp_path / name / "scheduler")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_flow_section_runs_and_round_trips_exactly(checkpoints, capsys):
    assert len(blocks(PAGE, "py")) == 4
    ns = run_blocks(PAGE, "py")
    out = capsys.readouterr().out
    errors = dict(re.findall(r"^(.*) round-trip error ([0-9.e+-]+)$", out, flags=re.M))
    assert set(errors) == {"SD3", "FLUX.1", "FLUX.2", "Lumina 2"}, out
    assert all(float(e) == 0.0 for e in errors.values()), out
    assert ns["model"].net.family.label == "Lumina 2"
    assert isinstance(ns["z"], torch.Tensor)
