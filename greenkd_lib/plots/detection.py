"""Table 4's detection figure: a few test images with the boxes each detector finds."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from torchvision.utils import draw_bounding_boxes

__all__ = ["boxes_grid"]

_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
            "#bcbd22", "#17becf"]


def _drawn(image: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor, classes: Sequence[str],
           scores: torch.Tensor | None = None) -> torch.Tensor:
    pixels = (image.clamp(0, 1) * 255).to(torch.uint8)
    names = [classes[int(l) - 1] + ("" if scores is None else f" {float(s):.2f}")
             for l, s in zip(labels, scores if scores is not None else labels)]
    colours = [_COLOURS[(int(l) - 1) % len(_COLOURS)] for l in labels]
    # Small images: thin boxes and no text in the picture (the class is the box colour; the title says it).
    return draw_bounding_boxes(pixels, boxes, labels=names if image.shape[-1] >= 128 else None,
                               colors=colours, width=1 if image.shape[-1] < 128 else 2)


def boxes_grid(images: torch.Tensor, truth: Sequence[Mapping[str, torch.Tensor]],
               found: Mapping[str, Sequence[Mapping[str, torch.Tensor]]], classes: Sequence[str],
               min_score: float = 0.5) -> plt.Figure:
    """One row per image: its objects, then each detector's boxes scoring at least ``min_score``
    (``found``: column title -> one detection dict per image, boxes in the image's pixels)."""
    columns = ["objects", *found]
    fig, axes = plt.subplots(len(images), len(columns), figsize=(2.3 * len(columns), 2.3 * len(images)),
                             squeeze=False)
    for i, image in enumerate(images):
        panels = [(truth[i]["boxes"], truth[i]["labels"], None)]
        for dets in found.values():
            keep = dets[i]["scores"] >= min_score
            panels.append((dets[i]["boxes"][keep], dets[i]["labels"][keep], dets[i]["scores"][keep]))
        for ax, column, (boxes, labels, scores) in zip(axes[i], columns, panels):
            ax.imshow(_drawn(image, boxes, labels, classes, scores).permute(1, 2, 0).numpy())
            words = ", ".join(classes[int(l) - 1] for l in labels) or "nothing"
            ax.set_title(f"{column}\n{words}" if i == 0 else words, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig
