"""Repeated inference passes: the median pass per model, ratios to the teacher (fabricated passes)."""

import itertools

import pandas as pd
import pytest

from greenkd_lib.carbon.inference import repeated_inference


def test_median_of_repeated_passes_and_ratio_to_the_teacher():
    times = {"t": itertools.cycle([3.0, 1.0, 2.0]), "s": itertools.cycle([0.5, 0.9, 0.1])}
    calls = []

    def measure(run_hash):
        calls.append(run_hash)
        t = next(times[run_hash])
        return {"time_s": t, "images": 10, "energy_kwh": t / 100, "co2_g": t / 10, "mode": "estimate"}

    models = pd.DataFrame({"method": ["teacher", "ours"], "model": ["resnet18", "mbv2"], "hash": ["t", "s"]})
    table = repeated_inference(measure, models, repeats=3)
    assert calls == ["t"] * 3 + ["s"] * 3
    assert list(table.columns) == ["method", "model", "images", "time_s", "energy_kwh", "co2_g", "mode",
                                   "time_vs_teacher", "co2_vs_teacher"]
    assert table["time_s"].tolist() == [2.0, 0.5]
    assert table["time_vs_teacher"].tolist() == pytest.approx([1.0, 0.25])
    assert table["co2_vs_teacher"].tolist() == pytest.approx([1.0, 0.25])


@pytest.mark.parametrize("repeats", [0, 1.5, True])
def test_repeats_must_be_a_positive_integer(repeats):
    with pytest.raises(ValueError, match="repeats must be an integer >= 1"):
        repeated_inference(lambda h: {}, pd.DataFrame({"method": [], "model": [], "hash": []}), repeats)
