"""Table 8's helpers on a table of known values: the claim check, the sentences, the figure."""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from greenkd_lib.engine.quantized import settings_for
from greenkd_lib.paper import table8
from greenkd_lib.paper.table8 import compression_figure, row_color


def _table(latency: bool = True) -> pd.DataFrame:
    methods = [m for m, _, _ in table8.ROWS]
    acc = [98.0, 96.0, 95.5, 95.9, 97.0, 97.2, 96.9, 97.1]
    size = [45.0, 9.7, 3.3, 3.3, 9.7, 9.7, 3.3, 3.3]
    co2 = [0.075, 0.033, 0.034, 0.05, 0.12, 0.042, 0.043, 0.06]
    lat = [5.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0] if latency else [math.nan] * 8
    precision = ["int8" if "int8" in m else "fp32" for m in methods]
    return pd.DataFrame({"method": methods, "accuracy": acc, "size_mb": size, "latency_ms": lat,
                         "gflops_millions": 0.001, "energy_kwh": [c / 294.21 for c in co2], "co2_g": co2,
                         "precision": precision, "latency_ms_batch64": [80, 20, 10, 10, 20, 20, 10, 10]})


def test_rows_are_the_issues_seven_and_ours_plus_qat():
    methods = [m for m, _, _ in table8.ROWS]
    assert len(methods) == 8 and methods[-1] == "Ours + QAT int8"
    for word in ("PTQ", "QAT", "fp32", "scratch", "KD tuned", "Ours"):
        assert any(word in m for m in methods), word
    assert table8.TABLE8_COLUMNS == ["method", "accuracy", "size_mb", "latency_ms", "gflops_millions", "energy_kwh",
                                     "co2_g"]


def test_the_claim_is_checked_among_the_students():
    claim = table8.claim_check(_table()).set_index("criterion")
    assert claim.loc["highest accuracy", "best row (students)"] == "Ours fp32"  # not the teacher's 98
    assert claim.loc["lowest CO2 to produce", "best row (students)"] == "student from scratch fp32"
    assert claim.loc["smallest file", "best row (students)"] == "PTQ int8 (student from scratch)"
    text = table8.headline(_table())
    assert "does not hold here" in text and "2.9x smaller" in text and "at batch 64: 20.00 against 10.00 ms" in text
    assert "PTQ adds 2 % to ours" in text


def test_without_latency_the_sentences_say_so():
    table = _table(latency=False)
    claim = table8.claim_check(table).set_index("criterion")
    assert claim.loc["fastest pass (batch 1)", "best row (students)"] == "unavailable"
    assert "unavailable on this machine" in table8.headline(table)


def test_settings_table_and_latency_batches():
    table = table8.settings_table(settings_for("quick"), (False, "no oneDNN"))
    assert dict(zip(table["setting"], table["value"]))["int8 backend"] == "no oneDNN"
    assert table8.default_latency_batches("smoke") == (1,) and table8.default_latency_batches("quick") == (1, 64)


def test_the_figure_hatches_int8_and_marks_missing_latency():
    table = _table()
    table.loc[2, "latency_ms"] = math.nan
    fig = compression_figure(table)
    assert len(fig.axes) == 4 and len(fig.axes[0].patches) == 8
    assert fig.axes[0].patches[2].get_hatch() == "//" and not fig.axes[0].patches[1].get_hatch()
    assert "unavailable" in [t.get_text() for t in fig.axes[2].texts]
    assert row_color("Ours + PTQ int8") == row_color("Ours fp32") != row_color("KD tuned fp32")
    plt.close(fig)
    with pytest.raises(IndexError):
        table8.headline(table.iloc[:2])  # rows missing: no sentence about them


@pytest.mark.slow
def test_latency_is_measured_once_per_machine_and_read_back(tmp_path, monkeypatch):
    from greenkd_lib.paper.lab import Lab

    lab = Lab("smoke", runs_root=tmp_path / "runs", progress=False, executor="serial")
    teacher = lab.teacher().iloc[0]
    rows = pd.DataFrame({"method": ["teacher fp32"], "precision": ["fp32"], "model_run": [teacher["hash"]],
                         "float_run": [teacher["hash"]]})
    calls = []
    monkeypatch.setattr(table8, "latency_ms", lambda model, size, b, repeats, key: calls.append(b) or 0.5 * b)
    first, note = table8.with_latency(rows, lab, repeats=3, batches=(1, 4))
    assert calls == [1, 4] and first["latency_ms"].tolist() == [0.5] and first["latency_ms_batch4"].tolist() == [2.0]
    assert "measured from" in note and table8._processor() in note
    again, _ = table8.with_latency(rows, lab, repeats=3, batches=(1, 4))
    assert calls == [1, 4] and again.equals(first)  # read back: nothing compiled or timed
    table8.with_latency(rows, lab, repeats=5, batches=(1, 4))
    assert calls == [1, 4, 1, 4]  # another measurement asked for: timed again
    for cached in (tmp_path / "runs" / "latency").glob("*.json"):
        cached.write_text("{not json")
    table8.with_latency(rows, lab, repeats=3, batches=(1, 4))
    assert len(calls) == 6  # a damaged record is measured again, not trusted
