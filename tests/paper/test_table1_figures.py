"""Table 1's bars from a fabricated table (no training)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from greenkd_lib.paper.table1 import draw_table1


def test_two_panels_per_data_set_annotated_relative_to_the_teacher():
    one = pd.DataFrame({"method": ["teacher", "scratch", "kd-tuned", "ours"],
                        "row": ["Teacher", "Student alone", "KD, tuned tau", "Ours, stochastic tau"],
                        "model": ["resnet18", "mbv2", "mbv2", "mbv2"], "test_acc_mean": [97.0, 95.0, 96.0, 96.5],
                        "test_acc_std": [0.2, np.nan, 0.1, 0.3], "co2_g": [2.0, 1.0, 6.0, 2.0],
                        "co2_vs_teacher": [1.0, 0.5, 3.0, 1.0], "gflops_millions": [4.0, 1.0, 6.0, 2.0],
                        "mode": "estimate"})
    table = pd.concat([one.assign(dataset="digits"), one.assign(dataset="cifar10")], ignore_index=True)
    fig, axes = plt.subplots(2, 2, squeeze=False)
    draw_table1(axes, table, ["digits, quick", "cifar10, quick"])
    assert all(len(ax.patches) == 4 for ax in axes.flat)
    texts = [t.get_text() for t in axes[0, 0].texts]
    assert texts[2] == "acc 96.0 ± 0.1 %\n3.00x teacher" and texts[1] == "acc 95.0 %\n0.50x teacher"
    assert [t.get_text() for t in axes[1, 1].texts][3] == "0.50x teacher"
    assert axes[1, 0].get_title() == "CO2 (estimate) and accuracy (cifar10, quick)"
    plt.close(fig)
