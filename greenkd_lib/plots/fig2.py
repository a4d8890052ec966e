"""Fig 2 made concrete: one input image and the soft outputs of teacher and student at two temperatures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

__all__ = ["soft_outputs_figure"]


def soft_outputs_figure(image: np.ndarray, label: str, values: Mapping[str, torch.Tensor], shown: torch.Tensor,
                        names: Sequence[str], taus: Sequence[float]) -> plt.Figure:
    """The input image (H x W x 3, for display), then per tau the teacher's ``o_m`` (red) beside the student's ``o_s``
    (green) over the ``shown`` classes; ``values`` from :func:`greenkd_lib.diagrams.quantities`."""
    fig = plt.figure(figsize=(13, 3.6))
    grid = fig.add_gridspec(1, 1 + len(taus), width_ratios=[0.7] + [2] * len(taus))
    ax = fig.add_subplot(grid[0])
    ax.imshow(image, interpolation="nearest")
    ax.set_title(f"input X (label {label})", fontsize=9)
    ax.axis("off")
    pos = np.arange(len(names))
    short = max(map(len, names)) <= 3  # digits' "0".."9" fit upright; longer class names are slanted
    for k, t in enumerate(taus):
        ax = fig.add_subplot(grid[k + 1])
        # Red: the frozen teacher, green: the trainable student, as in the diagrams.
        ax.bar(pos - 0.2, values[f"o_m = softmax(a_m / {t:g})"][shown], 0.4, color="tab:red", label="o_m (teacher)")
        ax.bar(pos + 0.2, values[f"o_s = softmax(a_s / {t:g})"][shown], 0.4, color="tab:green", label="o_s (student)")
        ax.set_xticks(pos, names, rotation=0 if short else 45, ha="center" if short else "right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        ax.set_title(f"tau = {t:g}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    return fig
