"""Grad-CAM maps (package ``grad-cam``) on the layer ``models.gradcam_layer`` picks (Fig 4b)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .models import gradcam_layer

__all__ = ["gradcam", "overlay"]


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


def overlay(image: np.ndarray, heatmap: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """An RGB uint8 picture of ``heatmap`` over ``image`` (H, W, 3) float in [0, 1]."""
    from pytorch_grad_cam.utils.image import show_cam_on_image

    return show_cam_on_image(np.clip(image, 0, 1).astype(np.float32), heatmap, use_rgb=True, image_weight=1 - weight)
