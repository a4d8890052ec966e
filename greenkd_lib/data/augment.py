"""The paper's training augmentations applied to whole uint8 batches on their device.

Per-sample torchvision transforms run in the main process and starve an accelerator (an H200
trained at 998 img/s through them, 17,822 img/s with crops and flips on the GPU). Here one call
draws every sample's crop offset, flip and angle from a seeded CPU generator (so a run is the
same on any device and resumes at an epoch boundary) and applies them to the batch at once.
Each operation gives, for the same parameters, the pixels of torchvision's tensor kernels
(``RandomCrop(padding)``, ``RandomHorizontalFlip``, ``RandomRotation`` with nearest interpolation
and zero fill); tests/test_data_device.py checks both that and the parameters' distributions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["BatchAugment", "AugmentParams"]


@dataclass(frozen=True)
class AugmentParams:
    """One batch's draws: crop offsets (top, left) in ``0..2*padding``, flips, angles in degrees (CPU)."""

    top: torch.Tensor  # (B,) int64
    left: torch.Tensor  # (B,) int64
    flip: torch.Tensor  # (B,) bool
    angle: torch.Tensor  # (B,) float64


@dataclass(frozen=True)
class BatchAugment:
    """Random crop with ``padding`` (0: none), horizontal flip (p = 0.5), rotation in ``±degrees`` (0: none).

    Applied in that order. Tiny ImageNet's recipe rotates before flipping; flipping an image
    rotated by θ equals rotating the flipped image by -θ, and θ is symmetric about 0, so the
    order does not change the distribution of augmented images.
    """

    padding: int = 0
    flip: bool = False
    degrees: float = 0.0

    def draw(self, n: int, generator: torch.Generator) -> AugmentParams:
        """The parameters of ``n`` samples, from ``generator`` (a CPU generator)."""
        span = 2 * self.padding + 1
        top = torch.randint(0, span, (n,), generator=generator)
        left = torch.randint(0, span, (n,), generator=generator)
        flip = torch.rand(n, generator=generator) < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool)
        unit = torch.rand(n, generator=generator, dtype=torch.float64)
        angle = (unit * 2 - 1) * self.degrees if self.degrees else torch.zeros(n, dtype=torch.float64)
        return AugmentParams(top, left, flip, angle)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``images`` (B, C, H, W) uint8, augmented with fresh draws from ``generator``."""
        return self.apply(images, self.draw(len(images), generator))

    def apply(self, images: torch.Tensor, params: AugmentParams) -> torch.Tensor:
        """``images`` (B, C, H, W) uint8 with the given parameters (a new tensor, uint8)."""
        x = images
        if self.padding:
            x = crop(x, self.padding, params.top, params.left)
        if self.flip:
            x = torch.where(params.flip.to(x.device).view(-1, 1, 1, 1), x.flip(-1), x)
        if self.degrees:
            x = rotate(x, params.angle)
        return x


def crop(images: torch.Tensor, padding: int, top: torch.Tensor, left: torch.Tensor) -> torch.Tensor:
    """Zero-pad by ``padding`` and cut each image back to its size at its (top, left) offset."""
    b, c, h, w = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))  # zeros, as RandomCrop's default fill
    dev = images.device
    rows = (top.to(dev).view(b, 1) + torch.arange(h, device=dev)).view(b, 1, h, 1)
    cols = (left.to(dev).view(b, 1) + torch.arange(w, device=dev)).view(b, 1, 1, w)
    n = torch.arange(b, device=dev).view(b, 1, 1, 1)
    ch = torch.arange(c, device=dev).view(1, c, 1, 1)
    return padded[n, ch, rows, cols]


def rotate(images: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Rotate each uint8 image by its angle (degrees, counter-clockwise) about its centre.

    torchvision's ``rotate_image`` for one image, batched: the same inverse matrix, grid and
    ``grid_sample(nearest, zeros, align_corners=False)``, so equal parameters give equal pixels.
    """
    b, _, h, w = images.shape
    dev = images.device
    rot = torch.deg2rad(-angle.double())  # torchvision passes -angle to its inverse affine matrix
    cos, sin = torch.cos(rot), torch.sin(rot)
    zero = torch.zeros_like(cos)
    # _get_inverse_affine_matrix without shear, scale 1, centre 0: [cos, sin, 0, -sin, cos, 0].
    theta = torch.stack([cos, sin, zero, -sin, cos, zero], dim=1).float().to(dev).view(b, 2, 3)
    base = torch.empty(1, h, w, 3, device=dev)
    base[..., 0].copy_(torch.linspace((1.0 - w) * 0.5, (w - 1.0) * 0.5, steps=w, device=dev))
    base[..., 1].copy_(torch.linspace((1.0 - h) * 0.5, (h - 1.0) * 0.5, steps=h, device=dev).unsqueeze_(-1))
    base[..., 2].fill_(1)
    scaled = theta.transpose(1, 2).div_(torch.tensor([0.5 * w, 0.5 * h], device=dev))
    grid = base.view(1, h * w, 3).expand(b, -1, -1).bmm(scaled).view(b, h, w, 2)
    out = F.grid_sample(images.float(), grid, mode="nearest", padding_mode="zeros", align_corners=False)
    return out.round_().to(images.dtype)

