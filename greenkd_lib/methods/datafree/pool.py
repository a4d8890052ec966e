"""The synthetic-image pool (DeepInversion, CMI) and CMI's memory bank of contrastive features.

CMI writes every synthesised batch to disk as 8-bit PNGs and trains the student on shuffled
passes over all of them. ``ImagePool`` keeps the same 8-bit images in memory instead (the same
quantisation, so the student sees what CMI's student reads back) and keeps its pass (permutation
and position) in its state, so a resumed run draws the same next batches. ``MemoryBank`` is CMI's
ring buffer of earlier samples' features, the contrastive term's negatives.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

__all__ = ["ImagePool", "MemoryBank", "quantize", "to_float"]

Stats = Sequence[float] | torch.Tensor


def _per_channel(values: Stats, like: torch.Tensor) -> torch.Tensor:
    """``values`` as a (1, C, 1, 1) float tensor on ``like``'s device, for broadcasting over a batch."""
    return torch.as_tensor(values, dtype=torch.float32, device=like.device).view(1, -1, 1, 1)


def quantize(images: torch.Tensor, mean: Stats, std: Stats) -> torch.Tensor:
    """Normalised float images -> uint8: de-normalise, clamp to [0, 1], x255, round (CMI's PNG quantisation)."""
    x = images.detach().float() * _per_channel(std, images) + _per_channel(mean, images)
    return x.clamp_(0, 1).mul_(255).round_().to(torch.uint8)


def to_float(images: torch.Tensor, mean: Stats, std: Stats) -> torch.Tensor:
    """uint8 images -> normalised float32 (``(x / 255 - mean) / std``), the network's input."""
    x = images.float().div_(255)
    return x.sub_(_per_channel(mean, x)).div_(_per_channel(std, x))


class ImagePool:
    """Every synthesised image so far, as uint8 on the CPU, with a resumable shuffled pass over them.

    Never pruned, as CMI's. ``next_batch`` walks a random permutation of the whole pool in batches
    (the last one of a pass may be smaller, like a ``DataLoader`` without ``drop_last``) and draws a
    new permutation when the pass is over; ``add`` also ends the pass, as CMI builds a new shuffled
    loader after every synthesis, so new images are reachable at once.
    """

    def __init__(self, mean: Stats, std: Stats) -> None:
        self.mean, self.std = mean, std
        self._data: torch.Tensor | None = None  # capacity grows by doubling: appends stay amortised O(1)
        self._size = 0
        self._order: torch.Tensor | None = None
        self._position = 0

    def __len__(self) -> int:
        return self._size

    @property
    def images(self) -> torch.Tensor:
        """The pool's images, uint8 (n, C, H, W) (a view: do not modify)."""
        if self._data is None:
            return torch.empty(0, dtype=torch.uint8)
        return self._data[: self._size]

    def add(self, images: torch.Tensor) -> None:
        """Append a normalised float batch (quantised to uint8) and end the current pass."""
        q = quantize(images, self.mean, self.std).cpu()
        if self._data is not None and q.shape[1:] != self._data.shape[1:]:
            raise ValueError(f"pool holds images of shape {tuple(self._data.shape[1:])}, got {tuple(q.shape[1:])}")
        need = self._size + len(q)
        if self._data is None or need > len(self._data):
            grown = torch.empty((max(need, 2 * self._size), *q.shape[1:]), dtype=torch.uint8)
            if self._data is not None:
                grown[: self._size] = self.images
            self._data = grown
        self._data[self._size: need] = q
        self._size = need
        self.restart()

    def restart(self) -> None:
        """End the current pass: the next batch starts a fresh shuffled pass."""
        self._order, self._position = None, 0

    def next_batch(self, batch_size: int, generator: torch.Generator) -> torch.Tensor:
        """The next uint8 batch of the current pass (a new permutation from ``generator`` when it is over)."""
        if self._size == 0:
            raise ValueError("the image pool is empty: synthesise a batch before sampling")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if self._order is None or self._position >= len(self._order):
            self._order, self._position = torch.randperm(self._size, generator=generator), 0
        index = self._order[self._position: self._position + batch_size]
        self._position += len(index)
        return self.images[index]

    def batches(self, batch_size: int, generator: torch.Generator, steps: int | None = None
                ) -> Iterator[torch.Tensor]:
        """``steps`` batches from ``next_batch`` (endless if None); the pass state lives in the pool."""
        done = 0
        while steps is None or done < steps:
            yield self.next_batch(batch_size, generator)
            done += 1

    def to_float(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (e.g. an augmented batch) -> normalised float32 with the pool's mean and std."""
        return to_float(images, self.mean, self.std)

    def state_dict(self) -> dict:
        """Images, permutation and position: with the generator's state, the next batches are fixed."""
        return {"images": self.images.clone(),
                "order": None if self._order is None else self._order.clone(),
                "position": self._position}

    def load_state_dict(self, state: dict) -> None:
        """Restore a ``state_dict``."""
        images, order, position = state["images"], state["order"], int(state["position"])
        if images.dtype != torch.uint8:
            raise ValueError(f"pool images must be uint8, got {images.dtype}")
        if order is not None and (len(order) != len(images) or not 0 <= position <= len(order)):
            raise ValueError(f"pool state inconsistent: {len(images)} images, order of {len(order)}, "
                             f"position {position}")
        self._data = images.clone() if len(images) else None
        self._size = len(images)
        self._order = None if order is None else order.clone()
        self._position = position if order is not None else 0


class MemoryBank:
    """A ring buffer of ``size`` feature rows of width ``dim`` (CMI's bank of negatives), on the CPU.

    ``add`` writes at the pointer and wraps around (CMI instead requires ``size`` to be a multiple
    of the batch); ``sample`` draws distinct rows from the filled ones only. CMI's bank samples
    from ``range(ptr)`` until it has taken *more* than ``size`` rows, so at exactly ``size`` rows
    (the pointer back at 0) it returns nothing; here a full bank samples from all its rows.
    """

    def __init__(self, size: int, dim: int, dtype: torch.dtype = torch.float32) -> None:
        if size <= 0 or dim <= 0:
            raise ValueError(f"memory bank size and dim must be positive, got size={size}, dim={dim}")
        self.size, self.dim = size, dim
        self.data = torch.zeros(size, dim, dtype=dtype)
        self.ptr = 0  # next row to write
        self.n_updates = 0  # rows written in all

    @property
    def filled(self) -> int:
        """Rows holding features: writes start at row 0, so these are rows ``0..filled-1``."""
        return min(self.n_updates, self.size)

    def __len__(self) -> int:
        return self.filled

    def add(self, rows: torch.Tensor) -> None:
        """Write ``rows`` (n, dim) at the pointer, overwriting the oldest rows once the bank is full."""
        if rows.dim() != 2 or rows.shape[1] != self.dim:
            raise ValueError(f"memory bank rows must be (n, {self.dim}), got {tuple(rows.shape)}")
        n = len(rows)
        if n > self.size:
            raise ValueError(f"batch of {n} rows is larger than the memory bank ({self.size} rows)")
        index = (self.ptr + torch.arange(n)) % self.size
        self.data[index] = rows.detach().to(device="cpu", dtype=self.data.dtype)
        self.ptr = (self.ptr + n) % self.size
        self.n_updates += n

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Up to ``n`` distinct filled rows in random order (fewer while the bank holds fewer); CPU, bank dtype."""
        if n < 0:
            raise ValueError(f"cannot sample {n} rows")
        index = torch.randperm(self.filled, generator=generator)[:n]
        return self.data[index]

    def state_dict(self) -> dict:
        """The filled rows, pointer and update count (empty rows are not stored)."""
        return {"size": self.size, "dim": self.dim, "rows": self.data[: self.filled].clone(),
                "ptr": self.ptr, "n_updates": self.n_updates}

    def load_state_dict(self, state: dict) -> None:
        """Restore a ``state_dict`` taken from a bank of the same size and width."""
        if (state["size"], state["dim"]) != (self.size, self.dim):
            raise ValueError(f"memory bank state is {state['size']}x{state['dim']}, this bank {self.size}x{self.dim}")
        rows, n_updates = state["rows"], int(state["n_updates"])
        if len(rows) != min(n_updates, self.size):
            raise ValueError(f"memory bank state has {len(rows)} rows for {n_updates} updates")
        self.data.zero_()
        self.data[: len(rows)] = rows.to(self.data.dtype)
        self.ptr, self.n_updates = int(state["ptr"]), n_updates
