"""plots.fig4: the three panels of Fig 4 drawn from fabricated predictions (no model)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from greenkd_lib.engine.evaluate import Predictions, confusion
from greenkd_lib.paper import fig4

NAMES = ["Teacher (resnet18)", "KD, tuned tau = 4 (mobilenetv2)", "Ours, stochastic tau (mobilenetv2)"]


def fabricated(num_classes=3, n=9, seed=0) -> dict[str, Predictions]:
    rng = np.random.default_rng(seed)
    y_true = np.arange(n) % num_classes
    preds = {}
    for name in NAMES:
        logits = rng.normal(size=(n, num_classes)).astype(np.float32)
        logits[np.arange(n), y_true] += 3
        preds[name] = Predictions(y_true, logits.argmax(1), logits)
    return preds


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_image_outputs_has_a_logit_and_a_probability_column_per_model():
    preds = fabricated()
    table = fig4.image_outputs(preds, 4, ["a", "b", "c"])
    assert list(table.columns) == ["class", "Teacher: logit", "Teacher: probability", "KD, tuned tau = 4: logit",
                                   "KD, tuned tau = 4: probability", "Ours, stochastic tau: logit",
                                   "Ours, stochastic tau: probability"]
    np.testing.assert_allclose(table["Teacher: probability"].sum(), 1, rtol=1e-6)
    assert table["Teacher: logit"].tolist() == pytest.approx(preds[NAMES[0]].logits[4].tolist())


def test_many_classes_show_the_first_model_s_ten_largest_logits_in_class_order():
    preds = fabricated(num_classes=30, n=30)
    shown = fig4.shown_classes(preds, 0, 30)
    assert len(shown) == 10 and list(shown) == sorted(shown)
    assert set(shown) == set(np.argsort(-preds[NAMES[0]].logits[0])[:10])
    assert list(fig4.shown_classes(preds, 0, 20)) == list(range(20))


def test_outputs_figure_has_the_image_and_two_panels_per_model():
    fig = fig4.outputs_figure(np.zeros((4, 4, 3)), fabricated(), 4, ["a", "b", "c"], "Fig 4a")
    assert len(fig.axes) == 1 + 2 * len(NAMES)
    assert fig.axes[1].get_title().startswith("Teacher (resnet18)\npredicts")


def test_gradcam_figure_uses_a_perceptual_colormap_with_a_labelled_colour_bar():
    preds = fabricated()
    cams = {name: np.random.default_rng(1).random((2, 4, 4)) for name in NAMES}
    pictures = np.random.default_rng(2).random((2, 4, 4, 3))
    fig = fig4.gradcam_figure(pictures, cams, preds, [0, 1], ["a", "b", "c"], "Fig 4b")
    maps = [ax for ax in fig.axes if ax.images and ax.images[0].get_array().ndim == 2]
    assert len(maps) == 2 * len(NAMES)
    assert {ax.images[0].get_cmap().name for ax in maps} == {"inferno"}
    bar = [ax for ax in fig.axes if "Grad-CAM" in ax.get_ylabel()]
    assert len(bar) == 1 and "0: no evidence" in bar[0].get_ylabel()


def test_confusion_figure_numbers_are_readable_and_row_labels_horizontal():
    matrices = {name: confusion(p, [str(i) for i in range(10)]) for name, p in fabricated(10, 60).items()}
    fig = fig4.confusion_figure(matrices, "Fig 4c")
    fig.canvas.draw()
    axes = fig.axes
    assert len(axes) == 3
    numbers = [t for t in axes[0].texts]
    assert len(numbers) == 100 and min(t.get_fontsize() for t in numbers) >= 10
    assert all(label.get_rotation() == 0 for ax in axes for label in ax.get_yticklabels())
    # Enough room between matrices: the next one starts to the right of this one's row labels.
    boxes = [ax.get_tightbbox(fig.canvas.get_renderer()) for ax in axes]
    assert all(left.x1 < right.x0 for left, right in zip(boxes, boxes[1:]))
    # A notebook shows the figure at 100 dpi: about 1,000 pixels wide, so it is not scaled down much.
    assert fig.get_figwidth() * 100 <= 1100
    assert "accuracy" in axes[0].get_title()


def test_confusion_figure_drops_numbers_for_many_classes():
    matrices = {name: confusion(p, [f"class {i}" for i in range(30)]) for name, p in fabricated(30, 60).items()}
    fig = fig4.confusion_figure(matrices)
    assert not fig.axes[0].texts
