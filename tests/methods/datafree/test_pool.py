"""Tests of greenkd_lib.methods.datafree.pool: the uint8 image pool and its resumable pass, and the memory bank."""

from __future__ import annotations

import pytest
import torch

from greenkd_lib.methods.datafree.pool import ImagePool, MemoryBank, quantize, to_float

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _normalised(n: int, seed: int = 0, size: int = 4) -> torch.Tensor:
    """Normalised images whose [0, 1] pixels are uniform (plus a margin outside, to test the clamp)."""
    unit = torch.rand(n, 3, size, size, generator=_gen(seed)) * 1.2 - 0.1
    return (unit - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def _pool(sizes: list[int]) -> ImagePool:
    pool = ImagePool(MEAN, STD)
    for i, n in enumerate(sizes):
        pool.add(_normalised(n, seed=i))
    return pool


# ------------------------------------------------------------------ quantisation
def test_uint8_round_trip_is_within_one_255th_inside_the_valid_range():
    x = _normalised(32)
    q = quantize(x, MEAN, STD)
    assert q.dtype == torch.uint8 and q.shape == x.shape
    back = to_float(q, MEAN, STD)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    unit, unit_back = x * std + mean, back * std + mean
    assert torch.allclose(unit_back, unit.clamp(0, 1), atol=0.5 / 255 + 1e-6)  # rounding, not truncation
    assert int(q.min()) == 0 and int(q.max()) == 255  # the margin was clamped
    assert torch.equal(quantize(back, MEAN, STD), q)  # quantisation is idempotent
    pool = _pool([5])
    assert torch.allclose(pool.to_float(pool.images), to_float(pool.images, MEAN, STD))


def test_add_detaches_and_keeps_images_on_the_cpu_in_order():
    a, b = _normalised(3, seed=1).requires_grad_(True), _normalised(9, seed=2)
    pool = ImagePool(MEAN, STD)
    assert len(pool) == 0 and pool.images.shape[0] == 0
    pool.add(a)
    pool.add(b)
    assert len(pool) == 12 and pool.images.dtype == torch.uint8 and not pool.images.requires_grad
    assert torch.equal(pool.images, torch.cat([quantize(a, MEAN, STD), quantize(b, MEAN, STD)]))
    with pytest.raises(ValueError, match="shape"):
        pool.add(_normalised(2, size=8))


# ------------------------------------------------------------------ passes
def test_one_pass_covers_each_image_exactly_once_and_the_last_batch_is_smaller():
    pool = ImagePool(MEAN, STD)
    # distinct images: image i is constant i, so a batch's images identify their indices
    for start in (0, 7, 13):
        count = {0: 7, 7: 6, 13: 10}[start]
        values = torch.arange(start, start + count, dtype=torch.float32) / 255
        pool.add(((values.view(-1, 1, 1, 1).expand(-1, 3, 2, 2) - torch.tensor(MEAN).view(1, 3, 1, 1))
                  / torch.tensor(STD).view(1, 3, 1, 1)))
    g = _gen(3)
    batches = [pool.next_batch(5, g) for _ in range(5)]
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    ids = torch.cat([b[:, 0, 0, 0] for b in batches]).tolist()
    assert sorted(ids) == list(range(23))
    second = torch.cat([pool.next_batch(5, g)[:, 0, 0, 0] for _ in range(5)]).tolist()
    assert sorted(second) == list(range(23)) and second != ids  # a new shuffle after the pass


def test_add_ends_the_pass_and_batches_yields_steps():
    pool = _pool([6])
    g = _gen(0)
    pool.next_batch(4, g)
    pool.add(_normalised(4, seed=9))
    assert len(pool.next_batch(100, g)) == 10  # a fresh pass over all ten, not the old pass's rest
    got = list(pool.batches(3, g, steps=5))
    assert [len(b) for b in got] == [3, 3, 3, 1, 3]
    with pytest.raises(ValueError, match="empty"):
        ImagePool(MEAN, STD).next_batch(2, g)


def test_state_round_trip_gives_identical_next_batches():
    pool = _pool([7, 7, 3])
    g = _gen(11)
    for _ in range(3):
        pool.next_batch(4, g)  # mid-pass: 12 of 17 drawn
    state, rng = pool.state_dict(), g.get_state()
    want = [pool.next_batch(4, g) for _ in range(6)]  # crosses into the next pass
    resumed = ImagePool(MEAN, STD)
    resumed.load_state_dict(state)
    g2 = torch.Generator()
    g2.set_state(rng)
    got = [resumed.next_batch(4, g2) for _ in range(6)]
    assert all(torch.equal(a, b) for a, b in zip(want, got))
    assert torch.equal(resumed.images, pool.images)
    fresh = ImagePool(MEAN, STD)
    fresh.load_state_dict(ImagePool(MEAN, STD).state_dict())
    assert len(fresh) == 0
    with pytest.raises(ValueError):
        fresh.load_state_dict({**state, "position": 99})


# ------------------------------------------------------------------ memory bank
def _rows(n: int, start: int, dim: int = 3) -> torch.Tensor:
    """Rows whose every entry is the row's number, so sampled rows identify themselves."""
    return torch.arange(start, start + n, dtype=torch.float32).view(-1, 1).expand(n, dim)


def test_bank_ring_pointer_wraps_and_overwrites_the_oldest_rows():
    bank = MemoryBank(size=5, dim=3)
    bank.add(_rows(3, 0))
    assert (bank.ptr, bank.n_updates, bank.filled) == (3, 3, 3)
    bank.add(_rows(3, 3))  # wraps: rows 3, 4, then 5 over row 0
    assert (bank.ptr, bank.n_updates, bank.filled) == (1, 6, 5)
    assert bank.data[:, 0].tolist() == [5, 1, 2, 3, 4]
    bank.add(_rows(5, 6))  # a batch of exactly the bank's size
    assert (bank.ptr, len(bank)) == (1, 5) and sorted(bank.data[:, 0].tolist()) == [6, 7, 8, 9, 10]


def test_bank_samples_only_filled_rows():
    bank = MemoryBank(size=16, dim=3)
    assert bank.sample(4, _gen(0)).shape == (0, 3)
    bank.add(_rows(5, 100))
    g = _gen(1)
    for _ in range(20):
        got = bank.sample(4, g)[:, 0].tolist()
        assert len(got) == 4 and len(set(got)) == 4 and set(got) <= set(range(100, 105))
    assert sorted(bank.sample(50, g)[:, 0].tolist()) == list(range(100, 105))  # fewer rows than asked


def test_exactly_full_bank_samples_from_all_rows():
    # CMI's bank would return nothing here (pointer back at 0, n_updates not yet > size)
    bank = MemoryBank(size=8, dim=3)
    bank.add(_rows(4, 0))
    bank.add(_rows(4, 4))
    assert (bank.ptr, bank.n_updates) == (0, 8)
    assert sorted(bank.sample(8, _gen(0))[:, 0].tolist()) == list(range(8))


def test_bank_errors_and_state_round_trip():
    bank = MemoryBank(size=6, dim=3)
    with pytest.raises(ValueError, match="larger than the memory bank"):
        bank.add(_rows(7, 0))
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        bank.add(torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        bank.add(torch.zeros(3))
    with pytest.raises(ValueError):
        MemoryBank(size=0, dim=3)
    bank.add(_rows(4, 0))
    state = bank.state_dict()
    assert state["rows"].shape == (4, 3)  # empty rows are not stored
    other = MemoryBank(size=6, dim=3)
    other.load_state_dict(state)
    assert (other.ptr, other.n_updates) == (bank.ptr, bank.n_updates)
    assert torch.equal(other.sample(3, _gen(5)), bank.sample(3, _gen(5)))
    other.add(_rows(4, 10))
    bank.add(_rows(4, 10))
    assert torch.equal(other.data, bank.data)
    with pytest.raises(ValueError, match="6x3"):
        MemoryBank(size=7, dim=3).load_state_dict(state)
    half = MemoryBank(size=6, dim=3, dtype=torch.float16)
    half.add(_rows(2, 0) + 0.5)
    assert half.sample(2, _gen(0)).dtype == torch.float16
