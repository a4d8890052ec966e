"""``greenkd reproduce``: papermill batch over real (tiny) notebooks, HTML exports, the report."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from greenkd_lib.batch.report import build_report
from greenkd_lib.batch.cli import main
from greenkd_lib.batch.reproduce import NoNotebooksError, notebooks, reproduce

GOOD = '''\
import json, os
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from greenkd_lib.paper.outputs import NotebookOutputs

out = NotebookOutputs("01_fig1_good", profile, output_root)
fig, ax = plt.subplots(figsize=(2, 2))
ax.plot([0, 1, 2], [0, 1, 4])
out.figure(fig, "fig1_demo", "Demo <figure> & caption")
plt.close(fig)
out.table(pd.DataFrame({"model": ["teacher", "student"], "accuracy": [95.04, 91.7812], "epochs": [100, 3]}),
          "table_demo", "Demo table caption")
with open(os.path.join(output_root, "probe.json"), "w") as f:
    json.dump({"cwd": os.getcwd(), "profile": profile, "data_root": data_root, "extra": knob}, f)
'''


def _write(path: Path, *cells) -> None:
    nbformat.write(new_notebook(cells=list(cells), metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                            "language": "python"}}), path)


def _parameters(source: str):
    cell = new_code_cell(source)
    cell.metadata["tags"] = ["parameters"]
    return cell


@pytest.fixture()
def nb_dir(tmp_path: Path) -> Path:
    d = tmp_path / "notebooks"
    d.mkdir()
    _write(d / "01_fig1_good.ipynb", new_markdown_cell("# A *good* notebook"),
           _parameters('profile = "quick"\ndata_root = None\noutput_root = None\ndevice = None\nknob = 1'),
           new_code_cell(GOOD))
    # Declares no output_root / data_root: they must not be injected.
    _write(d / "02_table1_broken.ipynb", _parameters('profile = "quick"'),
           new_code_cell('raise ValueError("boom: deliberate failure")'))
    _write(d / "notes.ipynb", new_code_cell("1/0"))  # not numbered: never run
    return d


@pytest.mark.slow
def test_batch_runs_past_a_failure_and_reports_everything(nb_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    out, data = tmp_path / "out", tmp_path / "data"
    monkeypatch.chdir(tmp_path)
    rc = reproduce(profile="smoke", jobs=2, output_root="out", data_root="data", directory=nb_dir,
                   extra_parameters={"knob": 7})
    assert rc == 1
    assert Path.cwd() == tmp_path  # the batch must not leave the process in the notebooks folder
    root = out / "smoke"
    stdout = capsys.readouterr().out
    assert "[1/2] 01_fig1_good ... started" in stdout and "[2/2] 02_table1_broken ... FAILED" in stdout
    assert "01_fig1_good ... ok (" in stdout and "ValueError: boom: deliberate failure" in stdout
    assert "2 notebook(s) in" in stdout and "1 ok, 1 FAILED (02_table1_broken)" in stdout
    assert "Executing" not in stdout  # no papermill chatter

    # Absolute paths and declared knobs only; the kernel ran in the notebooks folder.
    probe = json.loads((out / "probe.json").read_text())
    assert probe == {"cwd": str(nb_dir), "profile": "smoke", "data_root": str(data.resolve()), "extra": 7}
    broken = nbformat.read(root / "notebooks" / "02_table1_broken.ipynb", as_version=4)
    injected = [c.source for c in broken.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and "output_root" not in injected[0] and "knob" not in injected[0]
    assert "boom: deliberate failure" in json.dumps(broken.cells[-1].get("outputs", []))
    assert not (root / "notebooks" / "notes.ipynb").exists()

    summary = json.loads((root / "summary.json").read_text())
    rows = {r["notebook"]: r for r in summary["notebooks"]}
    assert rows["01_fig1_good"]["status"] == "ok" and rows["01_fig1_good"]["error"] is None
    assert rows["02_table1_broken"]["status"] == "FAILED"
    assert rows["02_table1_broken"]["error"] == "ValueError: boom: deliberate failure"
    assert summary["profile"] == "smoke" and summary["total_s"] > 0
    for stem in rows:
        exported = (root / "html" / f"{stem}.html").read_text()
        assert "<html" in exported[:2000].lower() and 'href="../index.html"' in exported  # a way back

    page = (root / "index.html").read_text()
    assert "greenkd — smoke profile" in page and "NOT the paper" in page
    for stem in rows:
        assert f'href="html/{stem}.html"' in page and f'href="notebooks/{stem}.ipynb"' in page
    assert 'src="figures/fig1_demo.png"' in page and 'href="figures/fig1_demo.svg"' in page
    assert "Demo &lt;figure&gt; &amp; caption" in page and "Demo <figure>" not in page
    assert "Demo table caption" in page and 'href="tables/table_demo.csv"' in page
    assert "<td>teacher</td>" in page and ">91.78</td>" in page and ">100</td>" in page
    assert "A good notebook" in page  # section title from the notebook's first heading
    assert page.count('class="status FAILED"') >= 2 and "ValueError: boom: deliberate failure" in page
    assert page.index("fig1_demo") < page.index("02_table1_broken</code>")  # paper order


@pytest.mark.slow
def test_only_runs_the_matching_notebooks_and_keeps_earlier_results(nb_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    root = out / "smoke" 
    (root).mkdir(parents=True)
    earlier = {"notebook": "02_table1_broken", "status": "FAILED", "seconds": 1.0, "error": "E: x",
               "executed": None, "html": None, "finished_at": "then"}
    gone = dict(earlier, notebook="05_table2_deleted")
    (root / "summary.json").write_text(json.dumps({"notebooks": [earlier, gone]}))
    assert reproduce(profile="smoke", only="fig1", output_root=out, directory=nb_dir) == 0
    assert "[1/1] 01_fig1_good ... ok" in capsys.readouterr().out
    assert not (root / "notebooks" / "02_table1_broken.ipynb").exists()
    rows = {r["notebook"]: r for r in json.loads((root / "summary.json").read_text())["notebooks"]}
    assert rows["01_fig1_good"]["status"] == "ok" and rows["02_table1_broken"] == earlier
    assert "05_table2_deleted" not in rows  # its notebook no longer exists


def test_notebook_selection_and_its_errors(nb_dir: Path, tmp_path: Path) -> None:
    assert [p.name for p in notebooks(directory=nb_dir)] == ["01_fig1_good.ipynb", "02_table1_broken.ipynb"]
    assert [p.name for p in notebooks("0?_table*", nb_dir)] == ["02_table1_broken.ipynb"]
    assert [p.name for p in notebooks("broken", nb_dir)] == ["02_table1_broken.ipynb"]
    with pytest.raises(ValueError, match=r"no notebook .* matches 'fig9'(.|\n)*01_fig1_good.ipynb(.|\n)*02_table1"):
        notebooks("fig9", nb_dir)
    with pytest.raises(ValueError, match="matches 'fig9'"):
        reproduce(profile="smoke", only="fig9", output_root=tmp_path / "out", directory=nb_dir)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        notebooks(directory=tmp_path / "nowhere")


def test_bad_arguments_fail_before_anything_runs(nb_dir: Path, tmp_path: Path) -> None:
    kw = {"output_root": tmp_path / "out", "directory": nb_dir}
    with pytest.raises(ValueError, match="unknown profile 'quik'.*smoke, quick, paper"):
        reproduce(profile="quik", **kw)
    with pytest.raises(ValueError, match="jobs must be"):
        reproduce(profile="smoke", jobs=0, **kw)
    with pytest.raises(ValueError, match="no Jupyter kernel named 'nope'.*ipykernel install"):
        reproduce(profile="smoke", kernel_name="nope", **kw)
    with pytest.raises(ValueError, match="'tua' are declared by none.*knob"):
        reproduce(profile="smoke", extra_parameters={"tua": 3}, **kw)
    with pytest.raises(ValueError, match="unknown executor 'threads'"):
        reproduce(profile="smoke", executor="threads", **kw)
    with pytest.raises(ValueError, match="is for executor='ray'"):
        reproduce(profile="smoke", executor="processes", ray_address="auto", **kw)
    assert not (tmp_path / "out").exists()


def test_no_notebooks_is_an_error_that_says_what_to_do(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoNotebooksError, match=r"no notebooks to run: found no .*ipynb in .*empty; pass the folder"):
        reproduce(profile="smoke", output_root=tmp_path / "out", directory=tmp_path / "empty")
    # The command line, where no notebooks/ is found (an installed copy without them): exit 2, and why.
    monkeypatch.setattr("greenkd_lib.batch.reproduce.notebooks_dir", lambda: tmp_path / "nowhere")
    assert main(["reproduce", "--profile", "smoke", "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert f"no notebooks to run: found no [0-9][0-9]_*.ipynb in {tmp_path / 'nowhere'}" in err
    assert "inside a greenkd checkout" in err and "GREENKD_HOME" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_report_from_manifests_alone(tmp_path: Path) -> None:
    """A notebook run by hand in JupyterLab (no summary.json) still shows; broken items are named."""
    root = tmp_path / "paper"
    (root / "manifest").mkdir(parents=True)
    (root / "tables").mkdir()
    (root / "tables" / "t4.csv").write_text("method,co2_g,energy_kwh\n<b>KD</b>,1173.44,\nOurs,61.76,0.000123\n")
    (root / "manifest" / "07_table4_headline.json").write_text(json.dumps({
        "notebook": "07_table4_headline", "profile": "paper", "items": [
            {"kind": "table", "name": "table4", "caption": "Cost <script>", "files": ["tables/t4.csv", "tables/t4.md"]},
            {"kind": "figure", "name": "lost", "caption": "gone", "files": ["figures/lost.png"]}]}))
    (root / "manifest" / "03_fig3_x.json").write_text("{not json")
    page = build_report("paper", tmp_path).read_text()
    assert "greenkd — paper profile" in page and "data/paper" in page and "NOT the paper" not in page
    assert "Cost &lt;script&gt;" in page and "&lt;b&gt;KD&lt;/b&gt;" in page
    assert ">1173.44</td>" in page and ">0.000123</td>" in page and ">—</td>" in page
    assert "missing file(s): tables/t4.md" in page and "missing file(s): figures/lost.png" in page
    assert "unreadable manifest 03_fig3_x.json" in page and "not run by greenkd reproduce" in page
    assert page.index("03_fig3_x") < page.index("07_table4_headline") and "Table 4" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    with pytest.raises(FileNotFoundError, match="greenkd reproduce --profile quick"):
        build_report("quick", tmp_path)


def test_a_notebook_that_times_things_says_why_in_its_metadata(tmp_path: Path) -> None:
    from greenkd_lib.batch.reproduce import _runs_alone

    timed = tmp_path / "06_times.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1")], metadata={"greenkd": {"runs_alone": "it times latency"}}),
                   timed)
    assert _runs_alone(timed) == "it times latency"
    assert _runs_alone(tmp_path / "missing.ipynb") is None
    shipped = {p.stem: _runs_alone(p) for p in notebooks()}
    assert {stem for stem, why in shipped.items() if why} == {
        "01_fig1_carbon_vs_accuracy", "06_table3_architectures", "12_table8_quantization_vs_kd"}
