"""Where a run's batches come from, and at what precision it computes.

Each split is held on the training device and batched there (``greenkd_lib.data.device``) where it
fits; otherwise a DataLoader with the profile's ``num_workers`` processes feeds it.
"""

from __future__ import annotations

import contextlib

import torch
from torch.utils.data import DataLoader, Dataset

from ..config.run import RunConfig
from ..data.device import DeviceSplit, on_device

__all__ = ["Inputs", "WithIndex", "precision_context", "num_workers_for", "DEVICE_INPUT"]

# False: every split through a DataLoader, the path before the device path (tests compare the two).
DEVICE_INPUT = True


def precision_context(precision: str, dev: torch.device):
    """A factory of the context that trains and evaluates at ``precision`` ("fp32", or "bf16": autocast).

    Raises ``ValueError`` naming the alternative where ``dev`` cannot compute in bfloat16.
    """
    if precision == "fp32":
        return contextlib.nullcontext
    if precision != "bf16":
        raise ValueError(f"precision must be 'fp32' or 'bf16', got {precision!r}; e.g. precision='fp32'")
    able = (dev.type == "cpu" or (dev.type == "cuda" and torch.cuda.is_bf16_supported()))
    if not able:
        name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type
        raise ValueError(f"precision='bf16' needs a device that computes in bfloat16; {name} does not: "
                         "use precision='fp32'")
    return lambda: torch.autocast(dev.type, dtype=torch.bfloat16)


def num_workers_for(cfg: RunConfig) -> int:
    """The ``num_workers`` of the profile a run config names (0 for a custom one)."""
    from ..config.profiles import PROFILES

    profile = PROFILES.get(cfg.profile)
    return profile.num_workers if profile is not None else 0


class WithIndex(Dataset):
    """A data set whose items also carry their index (a memory-bank slot)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i: int):
        x, y = self.dataset[i]
        return x, y, i


class Inputs:
    """Where a run's batches come from: each split on the device (greenkd_lib.data.device) where it
    fits, else a DataLoader with ``num_workers`` processes."""

    def __init__(self, bundle, dev: torch.device, num_workers: int, with_index: bool,
                 layout: torch.memory_format) -> None:
        self.bundle, self.dev, self.num_workers, self.with_index, self.layout = (bundle, dev, num_workers,
                                                                                 with_index, layout)
        self.splits: dict[str, DeviceSplit | None] = {
            name: on_device(getattr(bundle, name), dev, num_workers=num_workers) if DEVICE_INPUT else None
            for name in ("train", "val", "test")}

    def eval(self, split: str, batch_size: int):
        """The split's batches in order (x already in the run's layout where on the device)."""
        held = self.splits[split]
        if held is not None:
            return held.in_order(batch_size)
        return DataLoader(getattr(self.bundle, split), batch_size=batch_size, shuffle=False,
                          num_workers=self.num_workers, pin_memory=self.dev.type == "cuda")

    def train(self, generator: torch.Generator, batch_size: int, steps: int):
        """``(x, y, index or None)`` batches of one epoch, shuffled by ``generator``, on the device."""
        held = self.splits["train"]
        if held is not None:
            for x, y, index in held.epoch(generator, batch_size, steps=steps):
                yield x.contiguous(memory_format=self.layout), y, (index if self.with_index else None)
            return
        data = WithIndex(self.bundle.train) if self.with_index else self.bundle.train
        loader = DataLoader(data, batch_size=batch_size, shuffle=True, generator=generator, drop_last=False,
                            num_workers=self.num_workers, pin_memory=self.dev.type == "cuda",
                            persistent_workers=False)
        for step, (x, y, *rest) in enumerate(loader):
            if step >= steps:
                break
            x = x.to(self.dev, non_blocking=True).contiguous(memory_format=self.layout)
            yield x, y.to(self.dev, non_blocking=True), (rest[0] if rest else None)
