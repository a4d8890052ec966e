"""Tests of greenkd_lib.methods.datafree.views: differentiable jitter, flips and crops of synthetic batches."""

from __future__ import annotations

import pytest
import torch

from greenkd_lib.data.augment import BatchAugment
from greenkd_lib.methods.datafree import views


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _batch(n: int = 6, c: int = 3, h: int = 8, w: int = 8, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, c, h, w, generator=_gen(seed))


# ------------------------------------------------------------------ padded crop (CMI's global view)
@pytest.mark.parametrize("padding", [1, 2, 4])
def test_padded_crop_equals_the_data_pipelines_crop_on_the_same_draws(padding):
    x = torch.randint(0, 256, (16, 3, 12, 12), dtype=torch.uint8, generator=_gen(2))
    aug = BatchAugment(padding=padding)
    want = aug.apply(x, aug.draw(len(x), _gen(5)))
    got = views.padded_crop(x.float(), padding, _gen(5))
    assert torch.equal(got, want.float())


def test_padded_crop_is_a_shifted_window_of_the_padded_input_and_passes_gradients():
    x = _batch().requires_grad_(True)
    out = views.padded_crop(x, 2, _gen(3))
    assert out.shape == x.shape
    padded = torch.nn.functional.pad(x.detach(), (2, 2, 2, 2))
    for i in range(len(x)):
        windows = [(t, l) for t in range(5) for l in range(5)
                   if torch.equal(out[i].detach(), padded[i, :, t:t + 8, l:l + 8])]
        assert windows, f"sample {i} is no window of its padded image"
    weights = torch.rand(out.shape, generator=_gen(4))
    (out * weights).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # each output pixel comes from one input pixel (or the zero fill): gradients are the weights moved back
    assert torch.isclose(x.grad.sum(), (weights * (out.detach() != 0)).sum())


def test_padded_crop_offsets_vary_per_sample():
    x = torch.arange(64.0).view(1, 1, 8, 8).expand(32, 1, 8, 8)
    out = views.padded_crop(x, 2, _gen(0))
    assert len({tuple(o.flatten().tolist()) for o in out}) > 5


# ------------------------------------------------------------------ jitter and flips
def test_roll_jitter_is_one_roll_for_the_whole_batch_within_the_limit():
    x = _batch(h=12, w=12).requires_grad_(True)
    g = _gen(7)
    out = views.roll_jitter(x, 1, g)
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)
              if torch.equal(out.detach(), torch.roll(x.detach(), (dy, dx), dims=(2, 3)))]
    assert len(shifts) == 1
    out.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))
    small = torch.arange(36.0).view(1, 1, 6, 6)
    every = [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4)]
    seen = {next(s for s in every if torch.equal(views.roll_jitter(small, 2, _gen(seed)),
                                                 torch.roll(small, s, dims=(2, 3))))
            for seed in range(200)}
    assert seen == {(a, b) for a in range(-2, 3) for b in range(-2, 3)}
    assert torch.equal(views.roll_jitter(x, 0, _gen(1)), x)
    with pytest.raises(ValueError):
        views.roll_jitter(x, -1, _gen(1))


def test_random_flip_per_sample_and_per_batch():
    x = _batch(n=64)
    out = views.random_flip(x, _gen(1))
    flipped = torch.tensor([torch.equal(o, xi.flip(-1)) for o, xi in zip(out, x)])
    kept = torch.tensor([torch.equal(o, xi) for o, xi in zip(out, x)])
    assert bool((flipped ^ kept).all()) and 10 < int(flipped.sum()) < 54
    assert torch.equal(views.random_flip(x, _gen(1), p=0.0), x)
    assert torch.equal(views.random_flip(x, _gen(1), p=1.0), x.flip(-1))
    whole = [views.random_flip(x, _gen(s), per_sample=False) for s in range(20)]
    assert all(torch.equal(o, x) or torch.equal(o, x.flip(-1)) for o in whole)
    assert any(torch.equal(o, x) for o in whole) and any(torch.equal(o, x.flip(-1)) for o in whole)


@pytest.mark.parametrize("view", ["global", "local"])
def test_views_never_flip_when_flips_are_forbidden(view):
    # an image whose flip differs from it; with scale and ratio 1 the local view is the identity
    x = torch.arange(8.0).view(1, 1, 1, 8).expand(4, 1, 8, 8).contiguous()
    for seed in range(30):
        if view == "global":
            out = views.global_view(x, _gen(seed), allow_flip=False, padding=0)
        else:
            out = views.local_view(x, _gen(seed), allow_flip=False, scale=(1.0, 1.0), ratio=(1.0, 1.0))
        assert torch.allclose(out, x, atol=1e-5)
    flips = [views.global_view(x, _gen(s), allow_flip=True, padding=0) for s in range(10)]
    assert any(torch.equal(o[0], x[0].flip(-1)) for o in flips)


def test_global_view_default_padding_scales_with_size():
    assert [views.crop_padding(s) for s in (12, 16, 32)] == [2, 2, 4]
    assert [views.jitter_shift(s) for s in (12, 16, 32)] == [1, 2, 4]
    x = torch.ones(64, 1, 12, 12)
    out = views.global_view(x, _gen(0), allow_flip=False)
    zero_rows = (out == 0).all(-1).sum(-1).flatten()  # rows of zero fill per sample
    assert int(zero_rows.max()) == 2


# ------------------------------------------------------------------ resized crop (CMI's local view)
@pytest.mark.parametrize("size", [4, 12, 32])
def test_resized_crop_with_scale_and_ratio_one_is_the_identity(size):
    x = _batch(h=size, w=size)
    out = views.resized_crop(x, _gen(0), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert torch.allclose(out, x, atol=1e-5)


def test_resized_crop_resamples_its_box_and_passes_gradients():
    x = _batch(n=8, h=12, w=12).requires_grad_(True)
    out = views.resized_crop(x, _gen(3))
    assert out.shape == x.shape
    out.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    # a box of a constant image stays constant (bilinear weights sum to one)
    const = torch.full((8, 3, 12, 12), 0.3)
    assert torch.allclose(views.resized_crop(const, _gen(3)), const, atol=1e-6)
    # a half-image box at integer scale 2: the left half of a column ramp, stretched
    ramp = torch.arange(12.0).view(1, 1, 1, 12).expand(1, 1, 12, 12)
    boxes = views.crop_boxes(1, 12, 12, (0.5, 0.5), (0.5, 0.5), _gen(0))
    assert boxes[0, 2:].tolist() == [12, 6]  # h 12, w 6
    left = int(boxes[0, 1])
    out = views.resized_crop(ramp, _gen(0), scale=(0.5, 0.5), ratio=(0.5, 0.5))
    want = left + (torch.arange(12.0) + 0.5) * 6 / 12 - 0.5  # bilinear resize of the box
    assert torch.allclose(out[0, 0, 0], want.clamp(0, 11), atol=1e-5)


def test_crop_boxes_lie_inside_the_image_with_area_and_ratio_in_range():
    boxes = views.crop_boxes(2000, 32, 32, (0.25, 1.0), (3 / 4, 4 / 3), _gen(0))
    top, left, h, w = boxes.unbind(1)
    assert bool((top >= 0).all() and (left >= 0).all() and (top + h <= 32).all() and (left + w <= 32).all())
    area = (h * w).double() / 1024
    assert float(area.min()) > 0.2 and float(area.max()) <= 1.0
    ratio = w.double() / h.double()
    assert float(ratio.min()) > 0.7 and float(ratio.max()) < 1.4
    assert len(set(top.tolist())) > 10 and len(set(w.tolist())) > 10
    same = views.crop_boxes(2000, 32, 32, (0.25, 1.0), (3 / 4, 4 / 3), _gen(0))
    assert torch.equal(boxes, same)
    # no try fits (area 1 at ratio 2 on a square): the whole image, centred, ratio clamped
    fallback = views.crop_boxes(5, 12, 12, (1.0, 1.0), (2.0, 2.0), _gen(0))
    assert fallback.tolist() == [[3, 0, 6, 12]] * 5
    with pytest.raises(ValueError):
        views.crop_boxes(1, 12, 12, (0.5, 0.25), (1.0, 1.0), _gen(0))


def test_views_use_only_the_given_generator():
    x = _batch()
    torch.manual_seed(0)
    a = views.local_view(views.global_view(x, _gen(9), True), _gen(9), True)
    torch.manual_seed(123)
    b = views.local_view(views.global_view(x, _gen(9), True), _gen(9), True)
    assert torch.equal(a, b)
    g = _gen(9)
    first = views.global_view(x, g, True)
    assert not torch.equal(first, views.global_view(x, g, True))  # the generator advances
