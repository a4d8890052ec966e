"""plots.table5: per-class F1 markers in the display vocabulary (fabricated F1)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd

from greenkd_lib.paper.display import arm_style
from greenkd_lib.paper.table5 import per_class_f1_figure


def test_one_marker_series_per_arm_in_its_colour_and_marker():
    f1 = pd.DataFrame({"teacher": [99.0, 95.0], "kd-tuned": [97.0, 94.0], "ours": [98.0, 93.0]}, index=["a", "b"])
    fig = per_class_f1_figure(f1, "Table 5, per class")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == [arm_style(a)["label"] for a in f1.columns]
    assert [line.get_marker() for line in ax.lines] == [arm_style(a)["marker"] for a in f1.columns]
    assert list(ax.lines[2].get_ydata()) == [98.0, 93.0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]
    plt.close(fig)


def test_metrics_figure_one_bar_per_model_and_metric_and_the_papers_accuracy_where_published():
    from greenkd_lib.data import published
    from greenkd_lib.engine.evaluate import METRICS
    from greenkd_lib.paper import table5

    t5 = pd.DataFrame({"method": ["teacher", "kd-tuned", "ours"], "model": ["resnet18", "mbv2", "mbv2"],
                       **{m: [90.0, 85.0, 86.0] for m in METRICS},
                       table5.PAPER_ACCURACY: [95.04, published.NOT_PUBLISHED, 91.67]})
    fig = table5.metrics_figure(t5, "Table 5")
    ax = fig.axes[0]
    assert len(ax.patches) == 3 * len(METRICS)
    assert [p.get_facecolor()[:3] for p in ax.patches[::len(METRICS)]] == [
        matplotlib.colors.to_rgb(arm_style(m)["color"]) for m in t5["method"]]
    diamonds = [l for l in ax.lines if l.get_marker() == "D"]
    assert [float(l.get_ydata()[0]) for l in diamonds] == [95.04, 91.67]  # none where the paper has none
    assert all(l.get_xdata()[0] < 0.5 for l in diamonds)  # on the accuracy group
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(published.NOT_PUBLISHED in t for t in legend)
    plt.close(fig)
