"""Pictures at their own size and colour (revsde.app.images), read with Pillow alone."""

import numpy as np
import pytest
import torch
from PIL import Image

from revsde.app.images import (
    MAX_SIDE,
    PACKAGED_PICTURES,
    PictureError,
    load_picture,
    picture_size,
    picture_tensor,
    read_picture,
)


@pytest.mark.parametrize("name", list(PACKAGED_PICTURES))
def test_packaged_pictures_are_small_rgb_photographs(name):
    from revsde.app import images

    path = images._PICTURES / PACKAGED_PICTURES[name]
    assert path.stat().st_size < 150_000
    a = read_picture(name)
    assert a.ndim == 3 and a.shape[2] == 3 and max(a.shape[:2]) == 256
    assert 0.0 <= a.min() and a.max() <= 1.0 and a.std() > 0.1


def test_default_picture_is_256_square_rgb():
    x = load_picture()
    assert tuple(x.shape) == (1, 3, 256, 256) and x.dtype == torch.float64
    assert -1.0 <= float(x.min()) < -0.5 and 0.5 < float(x.max()) <= 1.0


@pytest.mark.parametrize("shape,cap,want", [
    ((512, 512), 256, (256, 256)), ((400, 600), 256, (171, 256)), ((30, 20), 256, (30, 20)),
    ((1000, 10), 100, (100, 1)), ((300, 451), None, (300, 451)),
])
def test_size_cap_keeps_the_aspect_and_never_upscales(shape, cap, want):
    assert picture_size(shape, cap) == want
    if cap == MAX_SIDE:
        x = picture_tensor(np.zeros(shape + (3,)), max_side=cap)
        assert tuple(x.shape[-2:]) == want


@pytest.mark.parametrize("mode,channels", [("RGB", 3), ("RGBA", 3), ("L", 1), ("P", 3),
                                           ("I;16", 1), ("1", 1)])
def test_user_files_in_many_modes(tmp_path, mode, channels):
    rng = np.random.default_rng(0)
    rgb = (rng.random((12, 18, 3)) * 255).astype(np.uint8)
    img = Image.fromarray(rgb).convert(mode) if mode != "I;16" else \
        Image.fromarray((rng.random((12, 18)) * 65535).astype(np.uint16))
    path = tmp_path / "p.png"
    img.save(path)
    a = read_picture(str(path))
    assert a.shape == (12, 18, channels) and 0.0 <= a.min() and a.max() <= 1.0
    x = load_picture(str(path))  # the model's 3 channels: gray is repeated
    assert tuple(x.shape) == (1, 3, 12, 18)
    if mode == "RGB":
        assert torch.allclose(x[0].permute(1, 2, 0), torch.as_tensor(rgb / 127.5 - 1.0))


def test_jpeg_and_channel_conversions(tmp_path):
    path = tmp_path / "p.jpg"
    Image.fromarray(np.full((8, 8, 3), (255, 0, 0), np.uint8)).save(path, quality=95)
    x = load_picture(str(path), channels=1)
    assert tuple(x.shape) == (1, 1, 8, 8)
    assert float(x.mean()) == pytest.approx(2 * 0.299 - 1, abs=0.03)  # ITU-R 601 luma of red


def test_bad_files_say_what_is_wrong(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG not really")
    with pytest.raises(PictureError, match="cannot read"):
        read_picture(str(bad))
    with pytest.raises(PictureError, match="no picture"):
        read_picture(str(tmp_path / "missing.jpg"))
    with pytest.raises(PictureError, match="folder"):
        read_picture(str(tmp_path))
    with pytest.raises(PictureError, match="channels must be 1 or 3"):
        picture_tensor(np.zeros((4, 4, 3)), channels=2)
    with pytest.raises(PictureError, match="must be"):
        picture_tensor(np.zeros((4, 4, 2)))
