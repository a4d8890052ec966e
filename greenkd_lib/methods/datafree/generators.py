"""The generators of CMI's code base: ``LargeGenerator`` (DAFL, ZSKT, DFQ) and ``Generator`` (CMI).

Latent ``z`` -> Linear -> (B, C, size/4, size/4) -> BN -> [upsample x2 -> conv -> BN -> LeakyReLU] x2 ->
conv to 3 channels -> Sigmoid: images in [0, 1], normalised by the caller.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["Generator", "LargeGenerator", "check_generator_size", "reset_generator"]


def check_generator_size(image_size: int, method: str = "a generator") -> None:
    """Raise ``ValueError`` unless ``image_size`` is a whole number of pixels divisible by 4 (two x2 upsamplings)."""
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 4 or image_size % 4:
        raise ValueError(f"{method} draws images of size 4k (its generator upsamples twice by 2); "
                         f"image_size {image_size!r} is not: use e.g. 12, 16 or 32")


class _Upsampling(nn.Module):
    """The shared body; ``widths`` = channels after the Linear, after the first and the second conv."""

    def __init__(self, nz: int, widths: tuple[int, int, int], image_size: int, channels: int = 3) -> None:
        super().__init__()
        check_generator_size(image_size)
        self.nz, self.image_size, self.init_size = nz, image_size, image_size // 4
        c0, c1, c2 = widths
        self.project = nn.Linear(nz, c0 * self.init_size ** 2)
        self.body = nn.Sequential(
            nn.BatchNorm2d(c0),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(c0, c1, 3, padding=1, bias=False),
            nn.BatchNorm2d(c1),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Upsample(scale_factor=2),
            nn.Conv2d(c1, c2, 3, padding=1, bias=False),
            nn.BatchNorm2d(c2),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(c2, channels, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.project(z).view(len(z), -1, self.init_size, self.init_size)
        return self.body(x)


class LargeGenerator(_Upsampling):
    """CMI's ``LargeGenerator``: 4ngf -> 2ngf -> ngf channels (256, 128, 64 at ngf 64)."""

    def __init__(self, nz: int, ngf: int = 64, image_size: int = 32, channels: int = 3) -> None:
        super().__init__(nz, (4 * ngf, 2 * ngf, ngf), image_size, channels)


class Generator(_Upsampling):
    """CMI's ``Generator``: 2ngf -> 2ngf -> ngf channels (128, 128, 64 at ngf 64)."""

    def __init__(self, nz: int = 256, ngf: int = 64, image_size: int = 32, channels: int = 3) -> None:
        super().__init__(nz, (2 * ngf, 2 * ngf, ngf), image_size, channels)


@torch.no_grad()
def reset_generator(model: nn.Module, rng: torch.Generator) -> None:
    """CMI's ``reset_model``: conv/linear weights N(0, 0.02), biases 0; BN weights N(1, 0.02), biases 0.

    The draws are made on the CPU (``rng`` is a CPU generator, which cannot fill a CUDA tensor) and
    copied to the model's device, so the weights are the same on every device.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d)):
            mean = 1.0 if isinstance(m, nn.BatchNorm2d) else 0.0
            m.weight.copy_(torch.empty(m.weight.shape).normal_(mean, 0.02, generator=rng))
            if m.bias is not None:
                m.bias.zero_()
