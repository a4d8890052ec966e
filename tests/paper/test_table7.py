"""Table 7's per-pair summaries (greenkd_lib.paper.table7) on fabricated run rows: no training."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd
import pytest

from greenkd_lib.paper import table7 as pairs

PROFILE = SimpleNamespace(name="quick", teacher="resnet18", students=("mobilenetv2", "shufflenetv2"), seeds=(0, 1))


def _rows(acc, co2, seeds, tau=None):
    return pd.DataFrame([{"seed": s, "test_acc": a, "co2_g": c, "energy_kwh": c / 100, "gflops_millions": 10 * c,
                          "wall_s": 1.0, "tau": tau, "mode": "estimate"} for s, a, c in zip(seeds, acc, co2)])


def _result(seeds=(0, 1)):
    n = len(seeds)
    return {"teacher": _rows([95.0] * n, [2.0] * n, seeds), "tuned": _rows([90.0, 92.0][:n], [8.0] * n, seeds, 4.0),
            "ours": _rows([91.0, 90.0][:n], [2.0] * n, seeds)}


def test_default_pairs_and_their_seeds():
    assert pairs.default_pairs(PROFILE) == [("resnet18", "mobilenetv2"), ("resnet18", "shufflenetv2"),
                                            ("wrn_40_2", "wrn_16_1")]
    assert pairs.default_pairs(SimpleNamespace(**{**vars(PROFILE), "name": "paper"}))[-1] == ("vgg16", "mobilenetv2")
    seeds = pairs.seeds_per_pair(PROFILE, pairs.default_pairs(PROFILE))
    assert seeds[("resnet18", "mobilenetv2")] == (0, 1) and seeds[("wrn_40_2", "wrn_16_1")] == (0,)
    assert pairs.seeds_per_pair(PROFILE, [("wrn_40_2", "wrn_16_1")], [3, 4])[("wrn_40_2", "wrn_16_1")] == (3, 4)
    with pytest.raises(ValueError, match="pair_seeds is empty"):
        pairs.seeds_per_pair(PROFILE, [], [])


def test_check_pairs_canonicalises_and_rejects():
    assert pairs.check_pairs([("ResNet18", "wrn-16-1")]) == [("resnet18", "wrn_16_1")]
    with pytest.raises(ValueError, match="teacher, student"):
        pairs.check_pairs(["resnet18"])
    with pytest.raises(ValueError, match="unknown model"):
        pairs.check_pairs([("resnet18", "nope")])


def test_pairs_table_one_row_per_pair_with_ratios_and_spread():
    results = {("resnet18", "mobilenetv2"): _result(), ("wrn_40_2", "wrn_16_1"): _result((0,))}
    seeds_of = {("resnet18", "mobilenetv2"): (0, 1), ("wrn_40_2", "wrn_16_1"): (0,)}
    table = pairs.pairs_table(results, seeds_of)
    first, second = table.iloc[0], table.iloc[1]
    assert first["pair"] == "resnet18 -> mobilenetv2" and first["seed(s)"] == "0, 1" and first["tuned tau"] == "4, 4"
    assert first["ours - tuned acc"] == pytest.approx(-0.5) and first["CO2 tuned / ours"] == pytest.approx(4.0)
    assert first["GFLOPs tuned / ours"] == pytest.approx(4.0) and first["train time (s)"] == 6.0
    assert math.isnan(second["tuned acc std"]) and first["tuned acc std"] > 0  # one seed: no spread
    assert pairs.wall_seconds(results[("wrn_40_2", "wrn_16_1")]) == 3.0
    text = pairs.headline(table, 3)
    assert "4.0x less CO2 than tuned KD" in text and "Cost ratio across pairs: 4.0x to 4.0x (grid of 3)" in text
    with pytest.raises(ValueError, match="empty"):
        pairs.pairs_table({}, {})


def test_seeds_note_names_the_pairs_with_other_seeds():
    assert pairs.seeds_note({("a", "b"): (0, 1)}, (0, 1)) == "seeds: [0, 1]"
    note = pairs.seeds_note({("a", "b"): (0, 1), ("c", "d"): (0,)}, (0, 1))
    assert note == "seeds: [0, 1] for the other pairs, [0] for c -> d"
