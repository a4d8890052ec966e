"""The report places and labels the notebooks that go beyond the paper."""

from __future__ import annotations

import json
import re
from pathlib import Path

from greenkd_lib.report import BEYOND_THE_PAPER, _describe_stem, build_report


def test_ablation_notebooks_are_labelled_beyond_the_paper():
    assert _describe_stem("13_ablation_why_random_tau") == ("why random tau", BEYOND_THE_PAPER)
    assert _describe_stem("03_fig3_tau_sensitivity") == ("tau sensitivity", "Fig 3")
    assert _describe_stem("11_table7_pairs") == ("pairs", "Table 7")
    assert _describe_stem("00_story") == ("story", None)
    assert _describe_stem("14_ablation_") == ("ablation ", None)  # a prefix with nothing after it is a slug


def test_the_ablation_section_follows_the_paper_s_tables_with_its_label_and_title(tmp_path: Path):
    root = tmp_path / "smoke"
    (root / "manifest").mkdir(parents=True)
    (root / "notebooks").mkdir()
    for stem in ("13_ablation_why_random_tau", "11_table7_pairs", "03_fig3_tau_sensitivity"):
        (root / "manifest" / f"{stem}.json").write_text(json.dumps({"notebook": stem, "profile": "smoke", "items": []}))
    (root / "notebooks" / "13_ablation_why_random_tau.ipynb").write_text(json.dumps(
        {"cells": [{"cell_type": "markdown", "source": ["# Ablation: why does a random tau work?\n", "text"]}]}))
    page = build_report("smoke", tmp_path).read_text()
    assert page.index("03_fig3_tau_sensitivity") < page.index("11_table7_pairs") < page.index("13_ablation_why_random_tau")
    heading = re.search(r'<h2 id="nb-13-ablation-why-random-tau">(.*?)</h2>', page).group(1)
    assert BEYOND_THE_PAPER in heading and "Ablation: why does a random tau work?" in heading
    assert f"{BEYOND_THE_PAPER} · Ablation: why does a random tau work?" in page  # the contents
