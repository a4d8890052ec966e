"""The notebook series: committed clean, and every notebook runs headlessly (smoke profile)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import papermill
import pytest
from papermill.exceptions import PapermillExecutionError

from greenkd_lib.batch.reproduce import notebooks, reproduce
from greenkd_lib.config.profiles import get_profile
from greenkd_lib.paths import notebooks_dir
from greenkd_lib.runs import RunStore

# The paper's figures and tables in the order the paper presents them, then the notebooks that go
# beyond the paper.
EXPECTED = ["00_story", "01_fig1_", "02_fig2_", "03_fig3_", "04_table1_", "05_table2_", "06_table3_",
            "07_table4_", "08_table5_", "09_fig4_", "10_table6_", "11_table7_", "12_table8_",
            "13_ablation_why_random_tau", "14_explore_temperature"]
COMMON_PARAMETERS = {"profile", "dataset", "seeds", "device", "data_root", "output_root", "country",
                     "carbon_intensity", "executor", "overrides"}

NOTEBOOKS = notebooks()


def test_the_series_is_complete_and_in_paper_order():
    stems = [p.stem for p in NOTEBOOKS]
    assert len(stems) == len(EXPECTED), stems
    for stem, prefix in zip(stems, EXPECTED):
        assert stem.startswith(prefix), f"{stem} should start with {prefix}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_clean(path: Path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.get("outputs") for c in code), f"{path.name} carries outputs: clear them before committing"
    assert all(c.get("execution_count") is None for c in code), f"{path.name} carries execution counts"
    tagged = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters', has {len(tagged)}"
    assert nb.cells[0].cell_type == "markdown", f"{path.name} should open with what it shows"
    declared = set(papermill.inspect_notebook(str(path)))
    assert COMMON_PARAMETERS <= declared, f"{path.name} lacks parameters {COMMON_PARAMETERS - declared}"
    # Every knob must be used after the parameters cell, not only declared.
    rest = "\n".join(c.source for c in code if c is not tagged[0])
    unused = [name for name in declared if not re.search(rf"\b{re.escape(name)}\b", rest)]
    assert not unused, f"{path.name} declares parameters it never uses: {unused}"


MAX_CODE_LINES = 15  # non-blank, non-comment lines of one code cell (the parameters cell: one per parameter)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_tells_the_story_and_the_library_does_the_work(path: Path):
    """No function or class defined in a notebook, short code cells, prose between the steps."""
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        lines = [line for line in cell.source.splitlines() if line.strip() and not line.strip().startswith("#")]
        defined = [line.strip() for line in lines if line.lstrip().startswith(("def ", "class ", "async def "))]
        assert not defined, f"{path.name} cell {i} defines {defined[0]!r}: move it into greenkd_lib"
        if "parameters" in cell.metadata.get("tags", []):
            continue  # declarations, not work: ten common parameters and the notebook's own
        assert len(lines) <= MAX_CODE_LINES, (f"{path.name} cell {i} has {len(lines)} code lines (at most "
                                              f"{MAX_CODE_LINES}): move the work into greenkd_lib or split the step")
    # A markdown cell between steps; only the parameters cell and the set-up cell after it may touch.
    kinds = [c.cell_type for c in nb.cells]
    params = next(i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", []))
    adjacent = [i for i in range(len(kinds) - 1) if kinds[i] == kinds[i + 1] == "code" and i != params]
    assert not adjacent, f"{path.name}: code cells {adjacent} are followed by code with no markdown between"


@pytest.fixture(scope="module")
def smoke_batch(tmp_path_factory):
    """The real notebooks executed by the real batch command, into a fresh output root."""
    out = tmp_path_factory.mktemp("outputs")
    code = reproduce(profile="smoke", output_root=out)
    return code, out / "smoke"


@pytest.mark.slow
def test_every_notebook_runs_with_the_smoke_profile(smoke_batch):
    code, root = smoke_batch
    summary = json.loads((root / "summary.json").read_text())
    failed = {e["notebook"]: e["error"] for e in summary["notebooks"] if e["status"] != "ok"}
    assert code == 0 and not failed, f"failed notebooks: {failed}"
    for path in NOTEBOOKS:
        executed = nbformat.read(root / "notebooks" / path.name, as_version=4)
        injected = [c for c in executed.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected and "smoke" in injected[0].source


@pytest.mark.slow
def test_every_notebook_saves_captioned_outputs_naming_profile_and_data(smoke_batch):
    _, root = smoke_batch
    for path in NOTEBOOKS:
        manifest = json.loads((root / "manifest" / f"{path.stem}.json").read_text())
        assert manifest["items"], f"{path.stem} saved no figure or table"
        kinds = {}
        for item in manifest["items"]:
            kinds.setdefault(item["kind"], set()).update(Path(f).suffix for f in item["files"])
            for f in item["files"]:
                assert (root / f).stat().st_size > 0, f"{path.stem}: {f} is empty"
            caption = item["caption"]
            # Table 4's detection rows name their own data set: digit scenes, drawn from the digits.
            assert "smoke" in caption and ("digits" in caption or "digit_scenes" in caption), (
                f"{path.stem}: caption of {item['name']!r} must name the profile and data set: {caption!r}")
        assert kinds.get("figure", {".png", ".svg"}) == {".png", ".svg"}
        assert kinds.get("table", {".csv", ".md"}) == {".csv", ".md"}


@pytest.mark.slow
def test_report_links_every_notebook_and_figure(smoke_batch):
    _, root = smoke_batch
    html = (root / "index.html").read_text()
    for path in NOTEBOOKS:
        assert f"html/{path.stem}.html" in html, f"the report does not link {path.stem}"
        assert (root / "html" / f"{path.stem}.html").is_file()
    for png in (root / "figures").glob("*.png"):
        assert f"figures/{png.name}" in html, f"the report does not show {png.name}"


def test_a_wrong_papermill_parameter_fails_with_a_clear_message(tmp_path):
    table2 = next(p for p in NOTEBOOKS if p.stem.startswith("05_table2_"))
    with pytest.raises(PapermillExecutionError) as err:
        papermill.execute_notebook(str(table2), str(tmp_path / "out.ipynb"), parameters={"profile": "quik"},
                                   cwd=str(notebooks_dir()), progress_bar=False, kernel_name="python3")
    assert "unknown profile 'quik'" in err.value.evalue and "quick" in err.value.evalue


def _run_fig2(tmp_path: Path, **parameters) -> Path:
    """Notebook 02 (two smoke trainings: a teacher and the student it teaches) into ``tmp_path/out``."""
    fig2 = next(p for p in NOTEBOOKS if p.stem.startswith("02_fig2_"))
    papermill.execute_notebook(str(fig2), str(tmp_path / "fig2.ipynb"), cwd=str(notebooks_dir()), progress_bar=False,
                               kernel_name="python3", parameters={"profile": "smoke", "executor": "serial",
                                                                  "output_root": str(tmp_path / "out"), **parameters})
    return tmp_path / "out"


@pytest.mark.slow
def test_overrides_change_the_profile_and_every_run_config_records_them(tmp_path):
    smoke = get_profile("smoke")
    assert (smoke.epochs, smoke.max_batches) != (1, 2)
    out = _run_fig2(tmp_path, overrides={"epochs": 1, "max_batches": 2})  # as -y "overrides: {epochs: 1, ...}"
    store = RunStore(out / "runs")
    runs = store.list()
    assert len(runs) >= 2 and set(runs["state"]) == {"finished"}
    for run_hash in runs["hash"]:
        config = store.run_by_hash(run_hash).config
        assert (config["profile"], config["epochs"], config["max_batches"]) == ("smoke", 1, 2), config


def test_a_bad_override_is_refused_naming_it(tmp_path):
    with pytest.raises(PapermillExecutionError) as err:
        _run_fig2(tmp_path, overrides={"epoch": 1})
    assert "unknown profile field 'epoch' (did you mean 'epochs'?)" in err.value.evalue
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.slow
def test_table4_rows_are_written_in_the_papers_columns(smoke_batch):
    """The output contract: measured Table 4 rows as CSV in the columns of the paper's table4.csv."""
    import pandas as pd

    from greenkd_lib.data import published

    _, root = smoke_batch
    measured = pd.read_csv(root / "tables" / "table4_measured.csv")
    assert list(measured.columns[: len(published.table4().columns)]) == list(published.table4().columns)
    assert set(zip(measured["loss"], measured["method"])) == {
        (loss, method) for loss in ("HKD", "CMC", "DML") for method in ("tuned", "ours")}
    assert (measured["gflops_millions"] > 0).all() and measured["score_mean"].between(0, 100).all()
    # DML trains two networks: one of its trainings costs more than one HKD training.
    ours = measured[(measured["method"] == "ours") & (measured["task"] == "classification")].set_index("loss")
    assert ours.loc["DML", "gflops_millions"] > ours.loc["HKD", "gflops_millions"]


@pytest.mark.slow
def test_table4_detection_rows_share_the_classification_columns(smoke_batch):
    """The VOC rows' contract: task = detection, metric = mAP, in table4_measured.csv's columns."""
    import pandas as pd

    from greenkd_lib.paper import table4

    _, root = smoke_batch
    measured = pd.read_csv(root / "tables" / "table4_measured.csv")
    detection = measured[measured["task"] == "detection"]
    assert list(measured.columns[:len(table4.TABLE4_COLUMNS)]) == table4.TABLE4_COLUMNS
    assert set(detection["dataset"]) == {"digit_scenes"} and set(detection["metric"]) == {"mAP"}
    assert set(zip(detection["loss"], detection["method"])) == {
        (loss, method) for loss in ("HKD", "CMC", "DML") for method in ("tuned", "ours")}
    assert detection["score_mean"].between(0, 100).all() and (detection["gflops_millions"] > 0).all()
    assert (root / "figures" / "table4_detection_boxes_digit_scenes.png").stat().st_size > 0


@pytest.mark.slow
def test_table6_rows_are_written_in_the_contract_columns(smoke_batch):
    """The output contract: measured Table 6 rows, one per synthesizer and arm, with their costs."""
    import pandas as pd

    _, root = smoke_batch
    measured = pd.read_csv(root / "tables" / "table6_datafree_kd.csv")
    assert list(measured.columns[:7]) == ["synthesizer", "method", "score_mean", "score_std", "gflops_millions",
                                          "energy_kwh", "co2_g"]
    assert set(zip(measured["synthesizer"], measured["method"])) == {
        (s, m) for s in ("DAFL", "ZSKT", "DFQ", "DeepInv", "CMI") for m in ("tuned", "ours")}
    assert (measured[["gflops_millions", "energy_kwh", "co2_g"]] > 0).all().all()
    assert measured["score_mean"].between(0, 100).all()
    assert (root / "figures" / "table6_synthetic_digits.png").stat().st_size > 0


@pytest.mark.slow
def test_table8_rows_are_written_in_the_contract_columns(smoke_batch):
    """The output contract: one row per compression method with accuracy, size, latency and costs."""
    import pandas as pd

    _, root = smoke_batch
    t8 = pd.read_csv(root / "tables" / "table8_quantization_vs_kd.csv")
    assert list(t8.columns[:7]) == ["method", "accuracy", "size_mb", "latency_ms", "gflops_millions", "energy_kwh",
                                    "co2_g"]
    methods = " / ".join(t8["method"])
    for word in ("PTQ", "QAT", "fp32", "scratch", "KD tuned", "Ours"):
        assert word in methods
    int8 = t8[t8["precision"] == "int8"]
    assert len(int8) == 4 and (int8["size_mb"] < 0.5 * t8.loc[t8["method"] == "Ours fp32", "size_mb"].iloc[0]).all()
    assert (t8[["size_mb", "gflops_millions", "energy_kwh", "co2_g"]] > 0).all().all()
