"""Real images, offline: scikit-image's bundled pictures and LFW faces, as model inputs.

Images are grayscale, square, ``size x size``, scaled to ``[-1, 1]`` and shaped
``(1, 1, size, size)`` (a batch of one), which is what the shipped model
(:mod:`revsde.diffusion.pretrained`) takes.  scikit-image is an optional
dependency (the ``images`` extra); it is imported lazily.
"""

from __future__ import annotations

import os

import numpy as np
import torch

__all__ = ["BUNDLED_IMAGES", "bundled_image", "load_image", "to_model_image", "lfw_faces"]

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
