"""A tiny BN network and a teacher of it trained on digits, for the data-free methods' tests
(tests/methods/datafree/); the ``digits_teacher`` fixture in tests/conftest.py trains one per module."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from greenkd_lib import data
from greenkd_lib.config.profiles import get_profile
from greenkd_lib.methods.datafree.hooks import BNStatistics

PROFILE = get_profile("smoke")
SIZE, CLASSES = 12, 10


def tiny(bn: bool = True, width: int = 16) -> nn.Module:
    norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), norm(width), nn.ReLU(),
                         nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), norm(2 * width), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * width, CLASSES))


def train_digits_teacher() -> tuple[nn.Module, tuple, tuple]:
    """A tiny BN teacher trained for 80 steps on digits: confident, with the running statistics of real digits."""
    bundle = data.load("digits", image_size=SIZE)
    loader = torch.utils.data.DataLoader(bundle.train, batch_size=64, shuffle=True,
                                         generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    teacher = tiny()
    optimizer = torch.optim.SGD(teacher.parameters(), lr=0.1, momentum=0.9)
    step = 0
    while step < 80:
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(teacher(x), y).backward()
            optimizer.step()
            step += 1
            if step == 80:
                break
    return teacher.eval().requires_grad_(False), tuple(bundle.mean), tuple(bundle.std)


def bn_distance(teacher: nn.Module, x: torch.Tensor) -> float:
    with BNStatistics(teacher) as hook, torch.no_grad():
        teacher(x)
        return float(hook.take())


def confidence(teacher: nn.Module, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float(teacher(x).softmax(1).amax(1).mean())
