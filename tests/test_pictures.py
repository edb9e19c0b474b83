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


# -- the range from the file, EXIF orientation, alpha, dtypes -------------------------------
def bright_picture(h: int, w: int) -> np.ndarray:
    """A smooth RGB picture with every pixel in [140, 250] (JPEG keeps it >= 128)."""
    y, x = np.mgrid[0:h, 0:w]
    ramp = 140 + 110 * (x / max(w - 1, 1) + y / max(h - 1, 1)) / 2
    return np.stack([ramp, ramp[::-1], np.full_like(ramp, 200)], -1).astype(np.uint8)


def test_a_bright_photograph_stays_bright(tmp_path):
    """Every pixel >= 128 (snow, a scanned page): read as [0.5, 1], i.e. [0, 1] in the model."""
    path = tmp_path / "snow.jpg"
    Image.fromarray(bright_picture(24, 40)).save(path, quality=95)
    a = read_picture(str(path))
    assert a.min() >= 128 / 255 and a.max() <= 1.0
    x = load_picture(str(path))
    assert float(x.min()) >= -0.1  # no negative value, and that is right


def test_exif_orientation_is_applied(tmp_path):
    """A phone photograph stored sideways with orientation 6 (turn 90° clockwise to view)."""
    stored = np.zeros((16, 32, 3), np.uint8)
    stored[8:] = 255  # top half black, bottom half white, as stored
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95)
    a = read_picture(str(path))
    assert a.shape == (32, 16, 3)  # upright: the long side is the height
    assert a[:, :6].mean() > 0.9 and a[:, 10:].mean() < 0.1  # the bottom came to the left
    from revsde.app.images import picture_shape

    assert picture_shape(str(path)) == (32, 16)  # from the header, the same way round


def test_alpha_is_composited_over_white(tmp_path):
    rgba = np.zeros((4, 6, 4), np.uint8)
    rgba[..., 0] = 255  # red ...
    rgba[:, :2, 3] = 255  # ... opaque on the left,
    rgba[:, 2:4, 3] = 0  # transparent in the middle (its red must not show),
    rgba[:, 4:, 3] = 128  # half transparent on the right
    path = tmp_path / "logo.png"
    Image.fromarray(rgba, "RGBA").save(path)
    a = read_picture(str(path))
    assert a.shape == (4, 6, 3)
    np.testing.assert_allclose(a[:, :2], np.broadcast_to([1.0, 0.0, 0.0], (4, 2, 3)))
    np.testing.assert_allclose(a[:, 2:4], 1.0)  # the white background
    np.testing.assert_allclose(a[:, 4:, 1], 1 - 128 / 255)
    gray = tmp_path / "gray.png"  # gray with alpha keeps one channel
    Image.fromarray(np.stack([np.full((3, 3), 0, np.uint8), np.full((3, 3), 0, np.uint8)], -1),
                    "LA").save(gray)
    b = read_picture(str(gray))
    assert b.shape == (3, 3, 1) and np.all(b == 1.0)


def test_float_tiff_in_0_1_is_read_as_it_is(tmp_path):
    values = np.linspace(0.0, 1.0, 5 * 7, dtype=np.float32).reshape(5, 7)
    path = tmp_path / "scan.tif"
    Image.fromarray(values, "F").save(path)
    a = read_picture(str(path))
    np.testing.assert_allclose(a[..., 0], values, atol=1e-7)
    x = load_picture(str(path))
    assert float(x.min()) == -1.0 and float(x.max()) == 1.0
    Image.fromarray(values * 255, "F").save(path)
    with pytest.raises(PictureError, match=r"read as values in \[0, 1\]"):
        read_picture(str(path))


def test_16_bit_png_by_its_depth_not_its_values(tmp_path):
    """A dark 16-bit picture (values <= 255 of 65535) is dark, not bright."""
    raw = (np.arange(6 * 8) * 5).astype(np.uint16).reshape(6, 8)
    path = tmp_path / "dark16.png"
    Image.fromarray(raw).save(path)
    a = read_picture(str(path))
    np.testing.assert_allclose(a[..., 0], raw / 65535.0)


@pytest.mark.parametrize("dtype", [torch.int64, torch.uint8, torch.bool, torch.complex64])
def test_an_integer_dtype_is_refused(dtype):
    with pytest.raises(PictureError, match="floating torch.dtype"):
        load_picture(dtype=dtype)
    with pytest.raises(PictureError, match="floating torch.dtype"):
        picture_tensor(np.ones((2, 2, 3)), dtype=dtype)


# -- the API's range check takes how the picture was read, not a guess from its values -----
@pytest.fixture(scope="module")
def shipped():
    from revsde.diffusion.pretrained import pretrained

    return pretrained("small-unet", dtype=torch.float32)


def test_a_bright_picture_from_load_picture_is_encoded(tmp_path, shipped):
    """``encode(model, load_picture("snow.jpg"))`` (every pixel >= 128: no negative value
    in [-1, 1]) is accepted, its range taken from the file's bit depth, and comes back."""
    from revsde.diffusion import decode, encode
    from revsde.diffusion.checks import Picture

    path = tmp_path / "snow.jpg"
    Image.fromarray(bright_picture(16, 16)).save(path, quality=95)
    for dtype in (torch.float64, torch.float32):  # float32: encode converts to its state
        x = load_picture(str(path), channels=shipped.channels, dtype=dtype)
        assert isinstance(x, Picture) and float(x.min()) >= 0.0
        with torch.no_grad():
            back = decode(shipped, encode(shipped, x, steps=2))
        assert float((back - x).abs().max()) <= 1e-5
    # the same values as a plain tensor are still guessed at (a [0, 1] picture passed
    # raw looks the same), and an operation on the picture gives a plain tensor
    for plain in (x.as_subclass(torch.Tensor), x * 1.0, torch.cat([x, x])):
        assert type(plain) is torch.Tensor
        with pytest.raises(ValueError, match=r"no negative value.*load_picture.*check_range"):
            encode(shipped, plain, steps=2)


def test_a_picture_read_into_another_range_than_the_models_is_refused(tmp_path, shipped):
    """A model taking [0, 1] gets a picture read into [-1, 1]: refused by how it was read
    (its values alone, all >= 0, would fit [0, 1] and go through silently wrong)."""
    from revsde.diffusion import DiffusionModel, encode

    path = tmp_path / "snow.png"
    Image.fromarray(bright_picture(16, 16)).save(path)
    x = load_picture(str(path), channels=shipped.channels, dtype=torch.float32)
    other = DiffusionModel(shipped.net, shipped.schedule, shipped.prediction)
    other.channels, other.data_range = shipped.channels, (0.0, 1.0)
    with pytest.raises(ValueError, match=r"read from its file into \[-1, 1\].*takes \[0, 1\]"):
        encode(other, x, steps=2)
    with torch.no_grad():  # the caller rescales: a plain tensor in [0, 1], accepted
        encode(other, (x + 1) / 2, steps=2)
