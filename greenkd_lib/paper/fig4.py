"""Fig 4: what three models output for one image (a), where they look (b, Grad-CAM) and what they
confuse (c). Each model is given by its name (:func:`~greenkd_lib.paper.predictions.model_label`) and
its :class:`~greenkd_lib.engine.evaluate.Predictions`, in the order teacher, tuned KD, ours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..data import published
from ..engine.evaluate import Predictions
from ..engine.explain import CAM_COLORMAP
from .display import arm_style

__all__ = ["COLORS", "shown_classes", "image_outputs", "outputs_figure", "gradcam_figure", "confusion_figure",
           "outputs_table_caption", "outputs_title", "outputs_caption", "gradcam_title", "gradcam_caption",
           "confusion_title", "confusion_caption", "accuracy_caption", "accuracy_note"]

# The three models' colours, in Fig 4's order (the display vocabulary's arms).
COLORS: tuple[str, ...] = tuple(arm_style(a)["color"] for a in ("teacher", "kd-tuned", "ours"))

# Bars for at most this many classes; beyond, the ten largest logits of the first model.
_ALL_CLASSES_UP_TO = 20


def _short(name: str) -> str:
    """A model's name without its architecture: "KD, tuned tau = 4 (mobilenetv2)" -> "KD, tuned tau = 4"."""
    return name.split(" (")[0]


def _wrapped(name: str) -> str:
    """The architecture on a second line, for narrow titles and axis labels."""
    return name.replace(" (", "\n(", 1)


def shown_classes(preds: Mapping[str, Predictions], index: int, num_classes: int) -> np.ndarray:
    """The classes Fig 4a draws for image ``index``: all of them, or (many classes) the ten with the
    largest logits of the first model, in class order."""
    if num_classes <= _ALL_CLASSES_UP_TO:
        return np.arange(num_classes)
    return np.sort(np.argsort(-next(iter(preds.values())).logits[index])[:10])


def image_outputs(preds: Mapping[str, Predictions], index: int, classes: Sequence[str]) -> pd.DataFrame:
    """Fig 4a as numbers: per shown class, each model's logit and softmax probability for image ``index``."""
    shown = shown_classes(preds, index, len(classes))
    table = pd.DataFrame({"class": [classes[i] for i in shown]})
    for name, pred in preds.items():
        table[f"{_short(name)}: logit"] = pred.logits[index][shown]
        table[f"{_short(name)}: probability"] = pred.probabilities[index][shown]
    return table


def outputs_figure(picture: np.ndarray, preds: Mapping[str, Predictions], index: int, classes: Sequence[str],
                   title: str = "", colors: Sequence[str] = COLORS):
    """Fig 4a: the image ``picture`` (H, W, 3) in [0, 1], then per model its logits (top) and
    softmax probabilities (bottom) over the shown classes, the true class in the model's colour."""
    import matplotlib.pyplot as plt

    label = int(next(iter(preds.values())).y_true[index])
    shown = shown_classes(preds, index, len(classes))
    names = [classes[i] for i in shown]
    long_names = max(map(len, names)) > 3
    pos = np.arange(len(shown))
    fig = plt.figure(figsize=(12, 5.2))
    grid = fig.add_gridspec(2, 1 + len(preds), width_ratios=[0.8] + [2] * len(preds))
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(picture, interpolation="nearest")
    ax.set_title(f"test image #{index}\ntrue class: {classes[label]}", fontsize=10)
    ax.axis("off")
    for k, (name, pred) in enumerate(preds.items()):
        bar_colors = [colors[k % len(colors)] if i == label else "0.75" for i in shown]
        top = fig.add_subplot(grid[0, k + 1])
        top.bar(pos, pred.logits[index][shown], color=bar_colors)
        top.axhline(0, color="0.3", lw=0.8)
        top.set_title(f"{name}\npredicts {classes[pred.y_pred[index]]} "
                      f"(p = {pred.probabilities[index].max():.2f})", fontsize=9)
        top.set_xticks(pos, [])
        bottom = fig.add_subplot(grid[1, k + 1])
        bottom.bar(pos, pred.probabilities[index][shown], color=bar_colors)
        bottom.set_ylim(0, 1)
        bottom.set_xticks(pos, names, rotation=45 if long_names else 0, ha="right" if long_names else "center",
                          fontsize=8)
        if k == 0:
            top.set_ylabel("logit")
            bottom.set_ylabel("softmax probability")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def gradcam_figure(pictures: np.ndarray, cams: Mapping[str, np.ndarray], preds: Mapping[str, Predictions],
                   picks: Sequence[int], classes: Sequence[str], title: str = "", cmap: str = CAM_COLORMAP,
                   outline: str = "cyan"):
    """Fig 4b: the input images (top row, ``pictures`` (N, H, W, 3) in [0, 1], positions ``picks``
    in the split), then per model its Grad-CAM maps ``cams`` (N, H, W) in ``cmap`` with the input's
    outline (``outline`` colour) drawn over them, and one colour bar for all maps."""
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    rows = 1 + len(cams)
    fig, axes = plt.subplots(rows, len(picks), figsize=(2.1 * len(picks) + 1.6, 2.1 * rows + 0.4), squeeze=False,
                             layout="constrained")
    labels = [int(next(iter(preds.values())).y_true[i]) for i in picks]
    for j, i in enumerate(picks):
        axes[0, j].imshow(pictures[j], interpolation="nearest")
        axes[0, j].set_title(f"#{i}: {classes[labels[j]]}", fontsize=9)
        # The map itself, not blended with the picture: blending shifts its colours off the colour
        # bar; the picture is kept as an outline, its brightness at half its range.
        brightness = pictures[j].mean(axis=-1)
        level = (brightness.min() + brightness.max()) / 2
        for r, (name, cam) in enumerate(cams.items(), start=1):
            axes[r, j].imshow(cam[j], cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            if brightness.max() > brightness.min():
                axes[r, j].contour(brightness, levels=[level], colors=outline, linewidths=1.0)
            p = preds[name]
            axes[r, j].set_title(f"predicts {classes[p.y_pred[i]]} ({p.probabilities[i].max():.2f})", fontsize=8)
    for r, name in enumerate(["input", *cams]):
        axes[r, 0].set_ylabel(_wrapped(name), fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap), ax=axes[1:, :], shrink=0.8, aspect=30)
    bar.set_label("Grad-CAM of the true class, scaled per image\n(0: no evidence for it, 1: the most)", fontsize=9)
    fig.suptitle(title, fontsize=11)
    return fig


def confusion_figure(matrices: Mapping[str, pd.DataFrame], title: str = "", cmap: str = "Blues"):
    """Fig 4c: the confusion matrices (counts; rows true, columns predicted) side by side, each
    titled with its accuracy; cells are numbered when there are at most 12 classes."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    first = next(iter(matrices.values()))
    n = len(first)
    annotate, ticks = n <= 12, n <= 20
    long_names = max(map(len, map(str, first.index))) > 3
    # About 3 inches a matrix: three side by side fit a notebook's width (about 1,000 pixels at
    # 100 dpi) without being scaled down, so a cell's number stays as tall as the text around it.
    side = 3.0 if annotate else 4.0
    digits = len(str(int(max(cm.to_numpy().max() for cm in matrices.values()))))
    fontsize = 11 if n <= 10 and digits <= 2 else 10 if n <= 10 and digits <= 3 else 8
    height = side + (1.8 if long_names else 1.0)  # room for column names written upwards
    fig, axes = plt.subplots(1, len(matrices), figsize=(side * len(matrices) + 1.2, height), squeeze=False,
                             layout="constrained")
    fig.get_layout_engine().set(wspace=0.1)
    for k, (ax, (name, cm)) in enumerate(zip(axes[0], matrices.items())):
        counts = cm.to_numpy()
        # Long row names once, on the first matrix (the rows are the same classes in every one).
        rows = ticks and (k == 0 or not long_names)
        sns.heatmap(cm, ax=ax, annot=annotate, fmt="d", cmap=cmap, cbar=False, square=True, linewidths=0.5,
                    linecolor="white", xticklabels=ticks, yticklabels=rows, annot_kws={"fontsize": fontsize})
        ax.set_title(f"{name}\naccuracy {100 * np.trace(counts) / counts.sum():.1f} %", fontsize=10)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class" if k == 0 else "")
        ax.tick_params(labelsize=9, length=0)
        ax.tick_params(axis="y", labelrotation=0)  # horizontal: a rotated label reads sideways into the next matrix
        ax.tick_params(axis="x", labelrotation=90 if long_names else 0)
    fig.suptitle(title, fontsize=11)
    return fig


# -- captions (every number from the run) -----------------------------------------------------------


def outputs_table_caption(index: int, class_name: str, title: str) -> str:
    """The caption of :func:`image_outputs` for test image ``index``."""
    return (f"Fig 4a as numbers: logits and probabilities per class for test image #{index} (class {class_name}) "
            f"({title}; paper values: {published.NOT_PUBLISHED})")


def outputs_title(class_name: str, title: str) -> str:
    """The title of :func:`outputs_figure`."""
    return f"Fig 4a: outputs for one test image of class {class_name} ({title})"


def outputs_caption(index: int, class_name: str, title: str) -> str:
    """The caption of :func:`outputs_figure`."""
    return (f"Logits and softmax probabilities of the teacher, the tuned-KD student and our student for test image "
            f"#{index} (class {class_name}) ({title}; the paper's Fig 4a shows a CIFAR-10 bird)")


def gradcam_title(title: str) -> str:
    """The title of :func:`gradcam_figure`."""
    return f"Fig 4b: Grad-CAM of the true class ({title})"


def gradcam_caption(images: int, title: str) -> str:
    """The caption of :func:`gradcam_figure` over ``images`` test images."""
    return (f"Grad-CAM maps of the true class for {images} test images: teacher, tuned-KD student and our student "
            f"({title}; the paper's Fig 4b uses CIFAR-10)")


def confusion_title(images: int, title: str) -> str:
    """The title of :func:`confusion_figure` over ``images`` test images."""
    return f"Fig 4c: confusion matrices on the {images} test images ({title})"


def confusion_caption(title: str) -> str:
    """The caption of :func:`confusion_figure`."""
    return (f"Confusion matrices of the teacher, the tuned-KD student and our student on the test split ({title}; "
            "the paper's Fig 4c uses CIFAR-10)")


def accuracy_caption(title: str) -> str:
    """The caption of the three models' accuracies (``predictions.accuracy_table``)."""
    return (f"Test accuracy of the three models of Fig 4 ({title}), beside the paper's CIFAR-10 accuracies "
            f"(abstract; the paper's Fig 4 itself: {published.NOT_PUBLISHED})")


def accuracy_note(summary: pd.DataFrame, dataset: str) -> str:
    """One sentence under that table: ours minus tuned KD here, and in the paper's abstract (CIFAR-10)."""
    gap = summary["test acc (%)"].iloc[2] - summary["test acc (%)"].iloc[1]
    paper_gap = (published.headline_value("ours_accuracy", "cifar10")
                 - published.headline_value("kd_accuracy", "cifar10"))
    return f"Ours minus tuned KD: {gap:+.2f} points of test accuracy on {dataset} (paper, CIFAR-10: {paper_gap:+.2f})."
