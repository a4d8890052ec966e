"""Fabricated run tables for the paper wing's tests (no training)."""

from __future__ import annotations

import pandas as pd


def kd_grid() -> pd.DataFrame:
    """Fixed-tau KD rows, as ``Lab.kd_grid`` returns them, for two seeds and two taus (2 and 8).

    Seed 0 prefers tau 2 on validation, seed 1 prefers tau 8; the test accuracy differs from the
    validation's, so that a test can tell which one chose. CO2 grows with tau.
    """
    rows = []
    for seed, accs in ((0, {2.0: (90.0, 80.0), 8.0: (85.0, 70.0)}), (1, {2.0: (88.0, 60.0), 8.0: (92.0, 75.0)})):
        for tau, (test, val) in accs.items():
            rows.append({"method": "kd", "seed": seed, "tau": tau, "test_acc": test, "best_val_acc": val,
                         "co2_g": 1.0 + tau / 10, "energy_kwh": 0.1, "wall_s": 1.0, "pflops": 1.0, "gflops_millions": 1.0,
                         "temperature": f"tau={tau:g}", "hash": f"{seed}{int(tau)}"})
    return pd.DataFrame(rows)
