"""Detection augmentation keeps every box on its object and every label and difficult flag on its box."""

from __future__ import annotations

import pytest
import torch
from torchvision import tv_tensors

from greenkd_lib.data.detection.transforms import eval_transform, train_transform

HEIGHT, WIDTH = 60, 90
RECT = (20, 10, 50, 40)  # x0, y0, x1, y1 (exclusive) of the bright rectangle
SIZE = 45  # output side: scale 0.5 along x, 0.75 along y


def _sample(rect=RECT, with_mask=False):
    image = torch.full((3, HEIGHT, WIDTH), 20, dtype=torch.uint8)
    x0, y0, x1, y1 = rect
    image[:, y0:y1, x0:x1] = 230
    target = {"boxes": tv_tensors.BoundingBoxes(torch.tensor([rect], dtype=torch.float32), format="XYXY",
                                                canvas_size=(HEIGHT, WIDTH)),
              "labels": torch.tensor([7]), "difficult": torch.tensor([True])}
    if with_mask:  # a per-object mask: follows the geometry, untouched by the photometric distortion
        mask = torch.zeros((1, HEIGHT, WIDTH), dtype=torch.uint8)
        mask[:, y0:y1, x0:x1] = 1
        target["mask"] = tv_tensors.Mask(mask)
    return tv_tensors.Image(image), target


def _share_inside(weights: torch.Tensor, box: torch.Tensor) -> float:
    """Share of ``weights`` (H, W) inside ``box``, pixels on its edge counted by the part the box covers."""
    def coverage(low, high, n):
        edges = torch.arange(n, dtype=torch.float32)
        return (torch.minimum(edges + 1, high) - torch.maximum(edges, low)).clamp(0, 1)

    x0, y0, x1, y1 = box
    inside = coverage(y0, y1, weights.shape[0])[:, None] * coverage(x0, x1, weights.shape[1])[None, :]
    return float((weights * inside).sum() / weights.sum())


def test_flip_and_resize_keep_the_box_on_the_bright_pixels():
    transform = train_transform(SIZE, flip=True)
    expected = torch.tensor([RECT[0] * 0.5, RECT[1] * 0.75, RECT[2] * 0.5, RECT[3] * 0.75])
    mirrored = torch.tensor([SIZE - expected[2], expected[1], SIZE - expected[0], expected[3]])
    seen = set()
    for seed in range(12):
        torch.manual_seed(seed)
        image, target = transform(*_sample())
        assert image.dtype == torch.float32 and image.shape == (3, SIZE, SIZE) and 0 <= image.min() <= image.max() <= 1
        box = target["boxes"][0]
        flipped = torch.allclose(box, mirrored, atol=1e-4)
        assert flipped or torch.allclose(box, expected, atol=1e-4), f"seed {seed}: box {box.tolist()} moved off"
        seen.add(flipped)
        grey = image.mean(0)
        bright = (grey > (grey.min() + grey.max()) / 2).float()
        assert _share_inside(bright, box) >= 0.95
        assert target["labels"].tolist() == [7] and target["difficult"].tolist() == [True]
    assert seen == {True, False}, "the flip never (or always) happened in 12 draws"


def test_no_flip_keeps_orientation():
    transform = train_transform(SIZE, flip=False)
    rect = (10, 10, 30, 40)  # off-centre, so a flip would move it
    for seed in range(8):
        torch.manual_seed(seed)
        _, target = transform(*_sample(rect))
        torch.testing.assert_close(target["boxes"][0], torch.tensor([5.0, 7.5, 15.0, 30.0]))


def test_ssd_crops_keep_the_box_on_the_object():
    transform = train_transform(SIZE, flip=True, ssd_crops=True)
    for seed in range(30):
        torch.manual_seed(seed)
        image, target = transform(*_sample(with_mask=True))
        assert image.shape == (3, SIZE, SIZE)
        if len(target["boxes"]) == 0:  # cropped away: mask, label and flag must go with it
            assert len(target["mask"]) == len(target["labels"]) == len(target["difficult"]) == 0
            continue
        box = target["boxes"][0]
        assert 0 <= box[0] < box[2] <= SIZE and 0 <= box[1] < box[3] <= SIZE
        # Masks are resized nearest-neighbour, so the object's pixels match its box give or take a pixel.
        mask = target["mask"][0].float()
        one_pixel = torch.tensor([-1.0, -1.0, 1.0, 1.0])
        assert mask.sum() > 0 and _share_inside(mask, box + one_pixel) >= 0.99, f"seed {seed}: object leaves its box"
        shrunk = (box - one_pixel).tolist()
        assert mask.sum() >= (shrunk[2] - shrunk[0]) * (shrunk[3] - shrunk[1]), f"seed {seed}: box larger than object"
        assert target["labels"].tolist() == [7] and target["difficult"].tolist() == [True]


def _many_boxes():
    image = torch.zeros((3, 200, 200), dtype=torch.uint8)
    boxes = torch.tensor([[10, 10, 60, 60], [100, 100, 101, 101], [120, 20, 190, 90], [30, 120, 100, 190],
                          [150, 150, 151, 190]], dtype=torch.float32)
    labels = torch.tensor([1, 2, 3, 4, 5])
    target = {"boxes": tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(200, 200)), "labels": labels,
              "difficult": labels % 2 == 0}  # the 1-pixel boxes 2 and 5 differ in their flag
    return tv_tensors.Image(image), target


def test_dropped_boxes_take_their_labels_and_difficult_flags_along():
    # 200 -> 50: the 1-pixel boxes shrink below a pixel and are dropped, the others stay.
    torch.manual_seed(0)
    _, target = train_transform(50, flip=False)(*_many_boxes())
    assert target["labels"].tolist() == [1, 3, 4]
    assert target["difficult"].tolist() == [False, False, True]
    assert len(target["boxes"]) == 3


def test_ssd_crops_keep_labels_and_flags_aligned():
    transform = train_transform(50, flip=True, ssd_crops=True)
    for seed in range(20):
        torch.manual_seed(seed)
        _, target = transform(*_many_boxes())
        labels = target["labels"]
        assert len(target["boxes"]) == len(labels) == len(target["difficult"])
        assert target["difficult"].tolist() == (labels % 2 == 0).tolist()


def test_eval_transform_keeps_every_box_and_scales_it():
    image, target = eval_transform(50)(*_many_boxes())
    assert image.dtype == torch.float32 and image.shape == (3, 50, 50)
    assert target["labels"].tolist() == [1, 2, 3, 4, 5]
    torch.testing.assert_close(target["boxes"][0], torch.tensor([2.5, 2.5, 15.0, 15.0]))


@pytest.mark.parametrize("size", [0, 4, 32.0, True])
def test_bad_image_size(size):
    with pytest.raises(ValueError, match="image_size"):
        train_transform(size, flip=False)
