"""Differentiable random views of float image batches (N, C, H, W) for data-free synthesis.

DeepInversion optimises pixels through a jitter (one roll for the whole batch) and a flip; CMI
contrasts a global view (a padded random crop) with a local one (a random resized crop), both per
sample. Every op here keeps the autograd graph to its input, so the synthesis loss reaches the
pixels or the generator, and takes every random draw from a ``torch.Generator`` (a CPU one, as
the methods' own), never from the global RNG, so a resumed run draws the same views.

Crops pad with zeros: apply them to images in [0, 1] before normalising, as CMI does (its kornia
pipeline crops the generator's sigmoid output and normalises last), so the fill is black.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...data.augment import crop

__all__ = ["roll_jitter", "random_flip", "padded_crop", "crop_boxes", "resized_crop", "global_view",
           "local_view", "crop_padding", "jitter_shift"]

# torchvision's RandomResizedCrop tries 10 boxes before falling back; drawing all 10 at once keeps
# the number of draws per call fixed, so the generator's state after a call does not depend on luck.
_ATTEMPTS = 10


def crop_padding(size: int) -> int:
    """CMI's global-view padding (4 px at 32) scaled to ``size``: 2 px at 12 and 16."""
    return int(round(4 * size / 32))


def jitter_shift(size: int) -> int:
    """DeepInversion's jitter limit, ``size // 8`` pixels (CMI: ``int(size * 1/8)``, ±4 at 32, ±1 at 12)."""
    return size // 8


def roll_jitter(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Roll the whole batch by one random (dy, dx) in ``[-max_shift, max_shift]`` (DeepInversion's jitter)."""
    if max_shift < 0:
        raise ValueError(f"max_shift must be >= 0, got {max_shift}")
    dy, dx = torch.randint(-max_shift, max_shift + 1, (2,), generator=generator).tolist()
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))


def random_flip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5,
                per_sample: bool = True) -> torch.Tensor:
    """Flip horizontally with probability ``p``: each sample on its own draw, or the batch on one draw."""
    if per_sample:
        flip = torch.rand(len(x), generator=generator) < p
        return torch.where(flip.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)
    return x.flip(-1) if bool(torch.rand(1, generator=generator) < p) else x


def padded_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Per-sample ``RandomCrop(size, padding)``: zero-pad, cut back to size at a random offset.

    Draws the offsets exactly as ``BatchAugment.draw`` does (top, then left, in ``0..2*padding``)
    and cuts with the data pipeline's ``crop`` (an index gather, so gradients reach ``x``): the same
    generator state gives the training pipeline's crop. ``padding`` 0: ``x`` itself, no draws.
    """
    if padding <= 0:
        return x
    span = 2 * padding + 1
    top = torch.randint(0, span, (len(x),), generator=generator)
    left = torch.randint(0, span, (len(x),), generator=generator)
    return crop(x, padding, top, left)


def crop_boxes(n: int, height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float],
               generator: torch.Generator) -> torch.Tensor:
    """``n`` random boxes (top, left, h, w) as ``RandomResizedCrop`` draws them (int64, CPU).

    torchvision's rule, batched: area fraction uniform in ``scale``, log aspect ratio (w/h) uniform
    in ``log(ratio)``, sides rounded; the first of 10 tries that fits wins, else the whole image
    with the aspect ratio clamped into ``ratio``, centred. Offsets are uniform over the positions.
    """
    if not (0 < scale[0] <= scale[1]) or not (0 < ratio[0] <= ratio[1]):
        raise ValueError(f"need 0 < scale[0] <= scale[1] and 0 < ratio[0] <= ratio[1], got {scale}, {ratio}")
    area = height * width
    s = scale[0] + (scale[1] - scale[0]) * torch.rand(n, _ATTEMPTS, generator=generator, dtype=torch.float64)
    lo, hi = math.log(ratio[0]), math.log(ratio[1])
    aspect = torch.exp(lo + (hi - lo) * torch.rand(n, _ATTEMPTS, generator=generator, dtype=torch.float64))
    w = torch.round(torch.sqrt(area * s * aspect)).long()
    h = torch.round(torch.sqrt(area * s / aspect)).long()
    fits = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = fits.long().argmax(1, keepdim=True)  # index of the first fitting try (0 if none)
    w, h = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1)
    # Fallback (no try fits): torchvision's central crop of the whole image, ratio clamped.
    in_ratio = width / height
    if in_ratio < ratio[0]:
        fw, fh = width, int(round(width / ratio[0]))
    elif in_ratio > ratio[1]:
        fw, fh = int(round(height * ratio[1])), height
    else:
        fw, fh = width, height
    none = ~fits.any(1)
    w = torch.where(none, torch.full_like(w, fw), w)
    h = torch.where(none, torch.full_like(h, fh), h)
    u_top = torch.rand(n, generator=generator, dtype=torch.float64)
    u_left = torch.rand(n, generator=generator, dtype=torch.float64)
    top = torch.floor(u_top * (height - h + 1)).long().clamp_(max=height - h)
    left = torch.floor(u_left * (width - w + 1)).long().clamp_(max=width - w)
    top = torch.where(none, torch.full_like(top, (height - fh) // 2), top)
    left = torch.where(none, torch.full_like(left, (width - fw) // 2), left)
    return torch.stack([top, left, h, w], dim=1)


def resized_crop(x: torch.Tensor, generator: torch.Generator, scale: tuple[float, float] = (0.25, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """Per-sample ``RandomResizedCrop`` back to the input size, bilinear, differentiable (CMI's local view).

    Each box is mapped onto the output by an affine grid (``align_corners=False``), which puts output
    pixel i at box coordinate ``top + (i + 0.5) * h / H - 0.5``, as a bilinear resize of the cut box.
    Samples that fall half a pixel outside the image replicate its border (``padding_mode="border"``)
    rather than blend in zeros, which would darken the edges of every crop touching them.
    """
    n, _, height, width = x.shape
    top, left, h, w = crop_boxes(n, height, width, scale, ratio, generator).double().unbind(1)
    zero = torch.zeros_like(top)
    # Normalised input coordinate = a * output coordinate + b, per axis.
    theta = torch.stack([w / width, zero, (2 * left + w) / width - 1,
                         zero, h / height, (2 * top + h) / height - 1], dim=1).view(n, 2, 3)
    theta = theta.to(device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, [n, x.shape[1], height, width], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def global_view(x: torch.Tensor, generator: torch.Generator, allow_flip: bool,
                padding: int | None = None) -> torch.Tensor:
    """CMI's global view: padded random crop (``crop_padding(H)`` by default), then a per-sample flip if allowed."""
    x = padded_crop(x, crop_padding(x.shape[-2]) if padding is None else padding, generator)
    return random_flip(x, generator) if allow_flip else x


def local_view(x: torch.Tensor, generator: torch.Generator, allow_flip: bool,
               scale: tuple[float, float] = (0.25, 1.0),
               ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> torch.Tensor:
    """CMI's local view: random resized crop (area 25-100 %), then a per-sample flip if allowed."""
    x = resized_crop(x, generator, scale, ratio)
    return random_flip(x, generator) if allow_flip else x
