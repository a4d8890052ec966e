"""Grad-CAM maps (package ``grad-cam``) on the layer ``models.gradcam_layer`` picks (Fig 4b)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from ..models import gradcam_layer

__all__ = ["PAPER_CLASS", "CAM_COLORMAP", "class_index", "image_of_class", "gradcam_picks", "images", "gradcam",
           "overlay"]

# The class of the image Fig 4a explains: the paper's bird on CIFAR-10; a "3" on the digits.
PAPER_CLASS: dict[str, str | int] = {"cifar10": "bird", "digits": 3}

# Perceptual (monotone in lightness), so a brighter pixel always means more evidence; jet does not.
CAM_COLORMAP = "inferno"


def class_index(classes: Sequence[str], wanted: str | int | None, dataset: str = "") -> int:
    """The index in ``classes`` of ``wanted``, a class name or an index; ``None``: the data set's
    :data:`PAPER_CLASS`, else class 0."""
    wanted = PAPER_CLASS.get(dataset, 0) if wanted is None else wanted
    if str(wanted) in classes:
        return list(classes).index(str(wanted))
    if isinstance(wanted, (int, np.integer)) and not isinstance(wanted, bool) and 0 <= wanted < len(classes):
        return int(wanted)
    raise ValueError(f"target_class {wanted!r} is neither a class name nor an index 0..{len(classes) - 1} of "
                     f"{dataset or 'the data set'}; classes: {', '.join(classes[:20])}"
                     f"{' ...' if len(classes) > 20 else ''}")


def image_of_class(targets: Sequence[int], cls: int, image_index: int = 0) -> int:
    """The position in a split (labels ``targets``) of its ``image_index``-th image of class ``cls``."""
    of_class = np.flatnonzero(np.asarray(targets) == cls)
    if isinstance(image_index, bool) or not isinstance(image_index, (int, np.integer)) \
            or not 0 <= image_index < len(of_class):
        raise ValueError(f"image_index must be an integer in 0..{len(of_class) - 1}: the split holds "
                         f"{len(of_class)} image(s) of class {cls}; got {image_index!r}")
    return int(of_class[image_index])


def gradcam_picks(targets: Sequence[int], first: int, count: int, num_classes: int) -> list[int]:
    """Fig 4b's images: position ``first``, then the first image of each following class (cyclic),
    ``count`` images in all, so that each shows a different class."""
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or not 1 <= count <= num_classes:
        raise ValueError(f"gradcam_images must be an integer in 1..{num_classes} (one image per class), got {count!r}")
    targets = np.asarray(targets)
    picks = [int(first)]
    for k in range(1, count):
        c = (int(targets[first]) + k) % num_classes
        if not (targets == c).any():
            raise ValueError(f"the split has no image of class {c}; lower gradcam_images")
        picks.append(int(np.flatnonzero(targets == c)[0]))
    return picks


def images(split: Sequence[tuple[torch.Tensor, int]], indices: Sequence[int]) -> torch.Tensor:
    """The images at positions ``indices`` of ``split`` (items ``(image, label)``) as one (N, 3, H, W) batch."""
    return torch.stack([split[i][0] for i in indices])


def gradcam(model: torch.nn.Module, images: torch.Tensor, targets: Sequence[int] | None = None) -> np.ndarray:
    """Grad-CAM heat maps, shape (N, H, W) in [0, 1], for normalised ``images`` (N, 3, H, W).

    ``targets``: the class to explain per image; ``None`` explains each image's predicted class.
    """
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be a (N, 3, H, W) batch, got shape {tuple(images.shape)}")
    if targets is not None and len(targets) != len(images):
        raise ValueError(f"{len(targets)} targets for {len(images)} images: give one class per image or None")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        cam_targets = None if targets is None else [ClassifierOutputTarget(int(t)) for t in targets]
        with GradCAM(model=model, target_layers=[gradcam_layer(model)]) as cam:
            return cam(input_tensor=images.to(device), targets=cam_targets)
    finally:
        model.train(was_training)


def overlay(image: np.ndarray, heatmap: np.ndarray, weight: float = 0.5, cmap: str = CAM_COLORMAP) -> np.ndarray:
    """An RGB uint8 picture of ``heatmap`` (H, W) in [0, 1], coloured by ``cmap``, over ``image``
    (H, W, 3) float in [0, 1]: ``weight`` of the heat map, the rest of the image."""
    import matplotlib

    colored = matplotlib.colormaps[cmap](np.clip(heatmap, 0, 1))[..., :3]
    # A plain blend, not rescaled afterwards: a colour bar of ``cmap`` keeps reading the heat map.
    mixed = weight * colored + (1 - weight) * np.clip(image, 0, 1)
    return np.round(mixed * 255).astype(np.uint8)
