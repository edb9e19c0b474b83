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

__all__ = ["BUNDLED_IMAGES", "bundled_image", "load_image", "to_model_image", "lfw_faces",
           "PACKAGED_PICTURES", "DEFAULT_PICTURE", "MAX_SIDE", "PictureError", "picture_names",
           "read_picture", "picture_size", "picture_tensor", "load_picture"]

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


def _from_pillow(img) -> np.ndarray:
    """A Pillow image as float64 ``(H, W, C)`` in [0, 1], C = 1 (gray) or 3 (RGB)."""
    if img.mode in ("1", "L", "I", "I;16", "F", "LA"):
        img = img.convert("F") if img.mode in ("I", "I;16", "F") else img.convert("L")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    a = np.asarray(img)
    if img.mode == "F":
        hi = 65535.0 if float(a.max(initial=0.0)) > 255.0 else 255.0
        a = a.astype(np.float64) / hi
    else:
        a = a.astype(np.float64) / 255.0
    if a.ndim == 2:
        a = a[:, :, None]
    return np.clip(a, 0.0, 1.0)


def read_picture(source: str = DEFAULT_PICTURE) -> np.ndarray:
    """A picture as float64 ``(H, W, C)`` in [0, 1] with its own size and channels.

    ``source`` is a packaged picture name (:data:`PACKAGED_PICTURES`, read with
    Pillow), a scikit-image bundled name (needs scikit-image) or the path of an
    image file Pillow reads (PNG, JPEG, ...).  Gray pictures have C = 1, colour
    ones C = 3 (an alpha channel is dropped).  Raises :class:`PictureError` with
    the reason when the file cannot be read.
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
        a = a.astype(np.float64) / (255.0 if a.dtype == np.uint8 else 1.0)
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
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise PictureError(f"cannot read {source!r} as a picture (PNG, JPEG, ... that Pillow "
                           f"reads): {e}") from None
    if min(a.shape[:2]) < 1:
        raise PictureError(f"{source!r} is an empty picture ({a.shape[1]}x{a.shape[0]})")
    return a


def picture_size(shape, max_side: int | None = MAX_SIDE) -> tuple[int, int]:
    """``(H, W)`` scaled down (never up) so that the long side is at most ``max_side``."""
    h, w = int(shape[0]), int(shape[1])
    if max_side is None or max(h, w) <= max_side:
        return h, w
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 4:
        raise PictureError(f"the size cap must be an integer >= 4 pixels; got {max_side!r}")
    f = max_side / max(h, w)
    return max(1, round(h * f)), max(1, round(w * f))


def picture_tensor(picture: np.ndarray, *, max_side: int | None = MAX_SIDE, channels: int = 3,
                   dtype=torch.float64, device=None) -> torch.Tensor:
    """A ``(H, W, C)`` [0, 1] picture as a ``(1, channels, H', W')`` model input in [-1, 1].

    The long side is capped at ``max_side`` (anti-aliased bilinear downscale, the
    aspect ratio kept); a gray picture is repeated to 3 channels when the model
    takes 3, a colour one averaged (ITU-R 601 weights) when it takes 1.
    """
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
                 channels: int = 3, dtype=torch.float64, device=None) -> torch.Tensor:
    """:func:`read_picture` then :func:`picture_tensor`: ``(1, channels, H, W)`` in [-1, 1]."""
    return picture_tensor(read_picture(source), max_side=max_side, channels=channels,
                          dtype=dtype, device=device)
