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
