"""Table 2's figure: one test image per class of each data set, as the models see them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import matplotlib.pyplot as plt

from ..data import published
from ..data.bundle import DatasetBundle

__all__ = ["examples_figure", "caption", "examples_title", "examples_caption"]


def examples_figure(bundles: Mapping[str, DatasetBundle], per_dataset: int = 10) -> plt.Figure:
    """A grid, one row per data set: the first test image of each of its first ``per_dataset`` classes,
    normalisation undone for display, titled with the class name."""
    if isinstance(per_dataset, bool) or not isinstance(per_dataset, int) or per_dataset < 1:
        raise ValueError(f"examples_per_dataset must be a positive integer, got {per_dataset!r}")
    if not bundles:
        raise ValueError("no data set to show; pass at least one name -> bundle")
    fig, axes = plt.subplots(len(bundles), per_dataset, figsize=(1.3 * per_dataset, 1.6 * len(bundles) + 0.6),
                             squeeze=False)
    for row, (name, bundle) in zip(axes, bundles.items()):
        targets = bundle.test.targets
        for k, ax in enumerate(row):
            ax.axis("off")
            if k >= bundle.num_classes or k not in targets:
                continue  # a class with no test image (smoke subsets) leaves its cell empty
            image, label = bundle.test[targets.index(k)]
            ax.imshow(bundle.denormalize(image).permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_title(bundle.classes[label][:12], fontsize=8)
        row[0].text(-0.15, 0.5, name, transform=row[0].transAxes, ha="right", va="center", fontsize=10)
    return fig


# -- captions (every number from the run) -----------------------------------------------------------


def caption(lab: Any) -> str:
    """Table 2's caption: the profile whose loaders deliver the data sets, beside their documented sizes."""
    return (f"Table 2: the data sets as the loaders deliver them under the {lab.profile.name} profile (the runs of "
            f"this series: {lab.title}), beside each data set's documented official sizes (data.DOCUMENTED_SIZES); "
            f"the paper's Table 2 values: {published.NOT_PUBLISHED}")


def examples_title(lab: Any) -> str:
    """The title of :func:`examples_figure`."""
    return (f"Table 2: one test image per class, as the models see them ({lab.profile.name} profile; the runs of "
            f"this series: {lab.title})")


def examples_caption(found: Iterable[str], lab: Any) -> str:
    """The caption of :func:`examples_figure` over the data sets ``found``."""
    return (f"One test image per class of each data set found ({', '.join(found)}), at the image size of the "
            f"{lab.profile.name} profile (the runs of this series: {lab.title})")
