"""The story's bill figure (fabricated rows, no training)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from greenkd_lib.paper import story


def test_draw_bill_one_bar_per_row_and_panel():
    bill = pd.DataFrame({"method": ["teacher", "scratch", "kd-tuned", "ours"],
                         "student": ["resnet18", "mbv2", "mbv2", "mbv2"], "test_acc_mean": [97.0, 95.0, 96.0, 96.5],
                         "test_acc_std": [0.2, np.nan, 0.1, 0.3], "energy_kwh": [2e-4, 1e-4, 3e-4, 1e-4],
                         "co2_g": [0.06, 0.03, 0.09, 0.03], "gflops_millions": [3e-3, 5e-4, 4e-3, 1.5e-3]})
    fig, axes = plt.subplots(2, 2)
    story.draw_bill(axes.flat, bill, ["mbv2"])
    assert all(len(ax.patches) == 4 for ax in axes.flat)
    assert axes[0, 0].get_ylim() == (0, 100) and axes[1, 1].get_ylabel().startswith("training GFLOPs (M)")
    assert [t.get_text() for t in axes[0, 0].get_xticklabels()][2] == "mbv2\nKD, tuned"
    plt.close(fig)
    tuned = story.bar_style("kd-tuned", "mbv2", ["mbv2"])
    assert tuned["hatch"] == "//" and tuned["color"] == "tab:red"
    assert story.bar_style("teacher", "resnet18", ["mbv2"])["hatch"] == ""


