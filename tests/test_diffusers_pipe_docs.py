"""docs/howto-diffusers.md, its section on whole pipelines: the ``python3`` blocks run, in
order, against tiny pipelines with random weights saved into folders named like the
checkpoints."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

pytest.importorskip("transformers")

import test_diffusers_pipe_cases as C  # noqa: E402
from page_code import blocks, run_blocks  # noqa: E402

PAGE = Path(__file__).resolve().parents[1] / "docs" / "howto-diffusers.md"
FOLDERS = {"sd": "stable-diffusion-v1-5", "sdxl": "stable-diffusion-xl-base-1.0",
           "sd3": "stable-diffusion-3.5-medium", "flux": "FLUX.1-dev"}


@pytest.fixture()
def checkpoints(tmp_path, monkeypatch):
    from PIL import Image

    for family, name in FOLDERS.items():
        C.pipeline(family).save_pretrained(tmp_path / name)
    g = torch.Generator().manual_seed(0)
    arr = (torch.rand(24, 32, 3, generator=g) * 255).to(torch.uint8).numpy()
    Image.fromarray(arr).save(tmp_path / "photo.png")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.filterwarnings("ignore::FutureWarning", "ignore::UserWarning")
def test_pipeline_section_runs_and_round_trips_exactly(checkpoints, capsys):
    assert len(blocks(PAGE, "python3")) == 3
    run_blocks(PAGE, "python3")
    out = capsys.readouterr().out
    errors = dict(re.findall(r"^(\S+) latent round-trip error ([0-9.e+-]+)$", out, flags=re.M))
    assert set(errors) == {"SD", "SDXL", "SD3", "FLUX.1"}, out
    assert all(float(e) == 0.0 for e in errors.values()), out
    assert "prompt='red cat' (this model: 'blue dog')" in out
    assert "the VAE alone" in out


def test_command_line_section_names_the_prompt_flags():
    text = PAGE.read_text()
    for flag in ("--prompt", "--negative-prompt", "--guidance-scale"):
        assert flag in text
