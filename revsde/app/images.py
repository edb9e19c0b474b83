"""Real pictures, offline, as model inputs.

* **Colour pictures at their own size** (:func:`read_picture`,
  :func:`load_picture`): a packaged picture (:data:`PACKAGED_PICTURES`, two
  public-domain/CC0 photographs shipped in ``revsde/app/pictures``), a
  scikit-image bundled name, or a user's file, read with Pillow (a runtime
  dependency; scikit-image is not needed).  The long side is capped
  (:data:`MAX_SIDE` = 256 px by default, aspect ratio kept, never upscaled), the
  colour channels kept, values scaled to [-1, 1], shape ``(1, C, H, W)``.
* **Gray thumbnails** (:func:`load_image`, :func:`to_model_image`,
  :func:`bundled_image`, :func:`lfw_faces`): scikit-image's pictures and LFW
  faces as square ``size x size`` gray images ``(1, 1, size, size)`` in [-1, 1],
  for the oracle tests.  scikit-image is an optional dependency (the ``images``
  extra), imported lazily.

Packaged pictures: ``astronaut.jpg`` (Eileen Collins, NASA, public domain) and
``coffee.jpg`` (Rachel Michetti, CC0), both from scikit-image's data, resized to
256 px on the long side.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from ..diffusion.checks import Picture

__all__ = ["BUNDLED_IMAGES", "bundled_image", "load_image", "to_model_image", "lfw_faces",
           "PACKAGED_PICTURES", "DEFAULT_PICTURE", "MAX_SIDE", "PictureError", "picture_names",
           "read_picture", "picture_size", "picture_tensor", "load_picture", "BACKGROUND",
           "picture_shape"]

#: scikit-image pictures that ship inside its wheel (no download needed).
BUNDLED_IMAGES = (
    "camera", "astronaut", "coffee", "chelsea", "rocket", "coins", "moon", "page", "text",
    "clock", "grass", "gravel", "brick", "cell", "hubble_deep_field",
    "immunohistochemistry", "retina",
)


def _skimage():
    try:
        import skimage.color
        import skimage.data
        import skimage.transform  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "real images need scikit-image: pip install 'revsde[images]' (or scikit-image)"
        ) from e
    return skimage


def _gray01(arr) -> np.ndarray:
    """Any uint8/bool/float image, gray or RGB(A), as a float64 gray image in [0, 1]."""
    sk = _skimage()
    a = np.asarray(arr)
    if a.dtype == bool:
        a = a.astype(np.float64)
    elif np.issubdtype(a.dtype, np.integer):
        a = a.astype(np.float64) / float(np.iinfo(a.dtype).max)
    else:
        a = a.astype(np.float64)
    if a.ndim == 3 and a.shape[-1] == 4:
        a = a[..., :3]
    if a.ndim == 3 and a.shape[-1] == 3:
        a = sk.color.rgb2gray(a)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D gray or RGB(A) image; got shape {a.shape}")
    return np.clip(a, 0.0, 1.0)


def bundled_image(name: str) -> np.ndarray:
    """A scikit-image bundled picture as a gray float64 array in [0, 1]."""
    if name not in BUNDLED_IMAGES:
        raise ValueError(f"unknown bundled image {name!r}; valid names are {list(BUNDLED_IMAGES)}")
    sk = _skimage()
    return _gray01(getattr(sk.data, name)())


def to_model_image(arr, size: int = 32, dtype=torch.float32, device=None) -> torch.Tensor:
    """Centre square crop, anti-aliased resize to ``size``, scale to [-1, 1], shape (1,1,s,s)."""
    if int(size) != size or size < 2:
        raise ValueError(f"size must be an integer >= 2; got {size!r}")
    _check_float_dtype(dtype)
    sk = _skimage()
    a = _gray01(arr)
    h, w = a.shape
    m = min(h, w)
    a = a[(h - m) // 2:(h - m) // 2 + m, (w - m) // 2:(w - m) // 2 + m]
    a = sk.transform.resize(a, (size, size), anti_aliasing=m > size, order=1)
    x = torch.as_tensor(2.0 * np.clip(a, 0.0, 1.0) - 1.0, dtype=torch.float64)
    return x.reshape(1, 1, size, size).to(device=device, dtype=dtype)


def load_image(source: str = "camera", size: int = 32, dtype=torch.float32,
               device=None) -> torch.Tensor:
    """A bundled image by name (``BUNDLED_IMAGES``) or an image file path, as a model input."""
    if source in BUNDLED_IMAGES:
        return to_model_image(bundled_image(source), size, dtype, device)
    if not os.path.isfile(source):
        raise ValueError(
            f"{source!r} is neither a bundled image name {list(BUNDLED_IMAGES)} nor an "
            "existing image file"
        )
    import skimage.io

    return to_model_image(skimage.io.imread(source), size, dtype, device)


def lfw_faces(size: int = 32) -> torch.Tensor:
    """The 200 LFW faces of ``skimage.data.lfw_subset()`` (25x25), resized: (200, 1, s, s)."""
    sk = _skimage()
    faces = np.asarray(sk.data.lfw_subset(), dtype=np.float64)
    out = np.stack([sk.transform.resize(f, (size, size), order=1, anti_aliasing=False)
                    for f in faces])
    return torch.as_tensor(2.0 * np.clip(out, 0.0, 1.0) - 1.0).unsqueeze(1)

# -- colour pictures at their own size (Pillow; no scikit-image needed) --------------------
#: pictures shipped inside the package (revsde/app/pictures), readable with Pillow alone
PACKAGED_PICTURES = {"astronaut": "astronaut.jpg", "coffee": "coffee.jpg"}
#: the picture ``revsde invert`` uses when none is given (256x256 RGB)
DEFAULT_PICTURE = "astronaut"
#: default cap on the long side of a picture, in pixels
MAX_SIDE = 256
_PICTURES = Path(__file__).resolve().parent / "pictures"


class PictureError(ValueError):
    """A picture that cannot be read or used (unreadable file, odd shape or mode)."""


def picture_names() -> list[str]:
    """Every name :func:`read_picture` accepts: the packaged pictures, then scikit-image's."""
    return list(PACKAGED_PICTURES) + [n for n in BUNDLED_IMAGES if n not in PACKAGED_PICTURES]


#: the background an alpha channel is composited over (white, as a viewer shows it)
BACKGROUND = 1.0


def _int_bits(img) -> int:
    """The bit depth of a 32-bit-mode ("I") Pillow image, read from its file's header."""
    if img.format == "PNG":
        return 16  # a PNG opens as mode I only for 16-bit gray
    tags = getattr(img, "tag_v2", None) or {}
    bits = tags.get(258)  # TIFF BitsPerSample
    if isinstance(bits, tuple):
        bits = bits[0]
    if bits in (16, 32) and tags.get(339, 1) in (1, (1,)):  # SampleFormat: unsigned
        return int(bits)
    raise PictureError(f"a {img.format or 'picture'} of signed or {bits}-bit integers cannot be "
                       "read as a picture: save it as an 8- or 16-bit PNG, or a float TIFF "
                       "in [0, 1]")


def _from_pillow(img) -> np.ndarray:
    """A Pillow image as float64 ``(H, W, C)`` in [0, 1], C = 1 (gray) or 3 (RGB).

    The range comes from how the file stores its pixels, never from their values:
    8-bit modes are divided by 255, 16-bit ones by 65535, float pictures (mode F,
    e.g. a float TIFF) are taken as [0, 1] and refused outside it.  The EXIF
    orientation is applied (a phone photograph comes upright) and an alpha channel is
    composited over a white background (:data:`BACKGROUND`).
    """
    from PIL import ImageOps

    img = ImageOps.exif_transpose(img)  # a no-op without an EXIF orientation tag
    mode = img.mode
    alpha = None
    if mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
            "transparency" in img.info and mode in ("P", "L", "1", "RGB")):
        gray = mode in ("LA", "La", "L", "1")
        rgba = np.asarray(img.convert("LA" if gray else "RGBA"), dtype=np.float64) / 255.0
        a, alpha = rgba[..., :-1], rgba[..., -1:]
    elif mode in ("1", "L"):
        a = np.asarray(img.convert("L"), dtype=np.float64) / 255.0
    elif mode.startswith("I;16"):
        a = np.asarray(img, dtype=np.float64) / 65535.0
    elif mode == "I":
        a = np.asarray(img, dtype=np.float64) / float(2 ** _int_bits(img) - 1)
    elif mode == "F":
        a = np.asarray(img, dtype=np.float64)
        lo, hi = float(a.min(initial=0.0)), float(a.max(initial=0.0))
        if not (lo >= 0.0 and hi <= 1.0):
            raise PictureError(f"a float picture (mode F) is read as values in [0, 1], but "
                               f"this one has values in [{lo:.4g}, {hi:.4g}]: save it "
                               "rescaled to [0, 1], or as an 8- or 16-bit PNG")
    else:  # P, RGB, CMYK, YCbCr, ...: 8 bits a channel
        a = np.asarray(img.convert("RGB"), dtype=np.float64) / 255.0
    if a.ndim == 2:
        a = a[:, :, None]
    if alpha is not None:
        a = a * alpha + BACKGROUND * (1.0 - alpha)
    return np.clip(a, 0.0, 1.0)


def read_picture(source: str = DEFAULT_PICTURE) -> np.ndarray:
    """A picture as float64 ``(H, W, C)`` in [0, 1] with its own size and channels.

    ``source`` is a packaged picture name (:data:`PACKAGED_PICTURES`, read with
    Pillow), a scikit-image bundled name (needs scikit-image) or the path of an
    image file Pillow reads (PNG, JPEG, TIFF, ...).  Gray pictures have C = 1, colour
    ones C = 3.  The range [0, 1] comes from the file's bit depth (8-bit / 255,
    16-bit / 65535, float pictures as they are, in [0, 1]), not from the values, so
    a bright picture stays bright; the EXIF orientation is applied; an alpha
    channel is composited over white (:data:`BACKGROUND`).  Raises
    :class:`PictureError` with the reason when the file cannot be read.
    """
    from PIL import Image, UnidentifiedImageError

    source = str(source)
    if source in PACKAGED_PICTURES:
        with Image.open(_PICTURES / PACKAGED_PICTURES[source]) as img:
            return _from_pillow(img)
    if source in BUNDLED_IMAGES and not os.path.exists(source):
        try:
            sk = _skimage()
        except ImportError:
            raise PictureError(f"the bundled picture {source!r} needs scikit-image (pip install "
                               f"scikit-image); the packaged ones {list(PACKAGED_PICTURES)} "
                               "and your own files need only Pillow") from None
        a = np.asarray(getattr(sk.data, source)())
        a = a.astype(np.float64) / (float(np.iinfo(a.dtype).max)
                                    if np.issubdtype(a.dtype, np.integer) else 1.0)
        return np.clip(a if a.ndim == 3 else a[:, :, None], 0.0, 1.0)[:, :, :3]
    if not os.path.exists(source):
        raise PictureError(f"no picture {source!r}: give an image file (PNG, JPEG, ...) or one "
                           f"of the bundled names {picture_names()}")
    if os.path.isdir(source):
        raise PictureError(f"{source!r} is a folder; give an image file (PNG, JPEG, ...)")
    try:
        with Image.open(source) as img:
            img.load()
            a = _from_pillow(img)
    except PictureError:
        raise
    except Image.DecompressionBombError as e:
        raise PictureError(f"{source!r} is too large to read safely: {e}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise PictureError(f"cannot read {source!r} as a picture (PNG, JPEG, ... that Pillow "
                           f"reads): {e}") from None
    if min(a.shape[:2]) < 1:
        raise PictureError(f"{source!r} is an empty picture ({a.shape[1]}x{a.shape[0]})")
    return a


def picture_shape(source: str = DEFAULT_PICTURE) -> tuple[int, int]:
    """``(H, W)`` of a picture, read from its file's header when it is a file (nothing is
    decoded), so that a run can be sized before the picture is loaded."""
    from PIL import Image, UnidentifiedImageError

    source = str(source)
    path = _PICTURES / PACKAGED_PICTURES[source] if source in PACKAGED_PICTURES else source
    if os.path.isfile(path):
        try:
            with Image.open(path) as img:
                w, h = img.size
                orientation = img.getexif().get(0x0112, 1)  # EXIF orientation
            return (w, h) if orientation in (5, 6, 7, 8) else (h, w)  # turned a quarter
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
            pass  # read_picture says why
        except Image.DecompressionBombError as e:
            raise PictureError(f"{source!r} is too large to read safely: {e}") from None
    a = read_picture(source)
    return a.shape[0], a.shape[1]


def picture_size(shape, max_side: int | None = MAX_SIDE) -> tuple[int, int]:
    """``(H, W)`` scaled down (never up) so that the long side is at most ``max_side``."""
    h, w = int(shape[0]), int(shape[1])
    if max_side is None or max(h, w) <= max_side:
        return h, w
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 4:
        raise PictureError(f"the size cap must be an integer >= 4 pixels; got {max_side!r}")
    f = max_side / max(h, w)
    return max(1, round(h * f)), max(1, round(w * f))


def _check_float_dtype(dtype) -> None:
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise PictureError(f"dtype must be a floating torch.dtype (torch.float64, float32, "
                           f"float16 or bfloat16): a picture in [-1, 1] does not fit "
                           f"{dtype!r}")


def picture_tensor(picture: np.ndarray, *, max_side: int | None = MAX_SIDE, channels: int = 3,
                   dtype=torch.float64, device=None) -> torch.Tensor:
    """A ``(H, W, C)`` [0, 1] picture as a ``(1, channels, H', W')`` model input in [-1, 1].

    The long side is capped at ``max_side`` (anti-aliased bilinear downscale, the
    aspect ratio kept); a gray picture is repeated to 3 channels when the model
    takes 3, a colour one averaged (ITU-R 601 weights) when it takes 1.
    """
    _check_float_dtype(dtype)
    a = np.asarray(picture, dtype=np.float64)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] not in (1, 3):
        raise PictureError(f"a picture must be (H, W), (H, W, 1) or (H, W, 3); got {a.shape}")
    if channels not in (1, 3):
        raise PictureError(f"channels must be 1 or 3; got {channels!r}")
    x = torch.as_tensor(np.ascontiguousarray(a.transpose(2, 0, 1)))[None]
    if x.shape[1] == 1 and channels == 3:
        x = x.expand(1, 3, *x.shape[2:])
    elif x.shape[1] == 3 and channels == 1:
        w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64).reshape(1, 3, 1, 1)
        x = (x * w).sum(1, keepdim=True)
    size = picture_size(a.shape, max_side)
    if size != tuple(a.shape[:2]):
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False,
                                            antialias=True)
    x = 2.0 * x.clamp(0.0, 1.0) - 1.0
    return x.contiguous().to(device=device, dtype=dtype)


def load_picture(source: str = DEFAULT_PICTURE, *, max_side: int | None = MAX_SIDE,
                 channels: int = 3, dtype=torch.float64, device=None) -> Picture:
    """:func:`read_picture` then :func:`picture_tensor`: ``(1, channels, H, W)`` in [-1, 1].

    The result is a :class:`revsde.diffusion.checks.Picture`: a tensor whose type says
    that its values were mapped from the file's bit depth, so that ``encode`` takes the
    range from how it was read instead of guessing it from the values (a bright picture,
    every pixel >= 128, has no negative value and is right).  Operations on it give
    plain tensors, checked as any other data.
    """
    x = picture_tensor(read_picture(source), max_side=max_side, channels=channels,
                       dtype=dtype, device=device)
    return x.as_subclass(Picture)
