"""The "Try it" sections that end every notebook, and the answers they compute (greenkd_lib.paper.exercises)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import ast
import builtins
import math

import nbformat
import numpy as np
import pandas as pd
import pytest
import torch

from greenkd_lib import Lab
from greenkd_lib.batch.reproduce import notebooks
from greenkd_lib.engine.evaluate import Predictions
from greenkd_lib.paper import exercises
from greenkd_lib.paper.exercises import Answer

NOTEBOOKS = notebooks()
FUNCTIONS = [name for name in exercises.__all__ if name != "Answer"]


def _try_it(path) -> list:
    nb = nbformat.read(path, as_version=4)
    starts = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Try it")]
    assert starts, f"{path.name} does not end with a '## Try it' section"
    return nb.cells[:starts[-1]], nb.cells[starts[-1]:]


def _defined(cells) -> set[str]:
    """Every name the cells bind at top level: assignments, for-loop targets, imports, parameters."""
    names: set[str] = set()
    for cell in cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_ends_with_questions_and_hidden_computed_answers(path):
    before, section = _try_it(path)
    kinds = [c.cell_type for c in section]
    assert kinds == ["markdown", "code"] * (len(kinds) // 2) and 2 <= len(kinds) // 2 <= 3, (
        f"{path.name}: the Try-it section should alternate question and answer, two or three times: {kinds}")
    known = _defined(before) | set(dir(builtins))
    for k, (question, answer) in enumerate(zip(section[::2], section[1::2]), 1):
        assert f"**{k}.**" in question.source, f"{path.name}: question {k} is not numbered"
        meta = answer.metadata
        # JupyterLab 4 reads jupyter.source_hidden (input) and collapsed (outputs): both hide the answer.
        assert meta.get("jupyter", {}).get("source_hidden") is True and meta.get("collapsed") is True, (
            f"{path.name}: answer {k} is not collapsed")
        assert "answer" in meta.get("tags", [])
        assert not answer.outputs and answer.execution_count is None
        tree = ast.parse(answer.source)
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and isinstance(n.func.value, ast.Name) and n.func.value.id == "exercises"]
        assert len(calls) == 1 and calls[0].func.attr in FUNCTIONS, f"{path.name}: answer {k} calls no exercise"
        # The answer's arguments are the notebook's own variables: a renamed one fails here, not in class.
        used = {n.id for n in ast.walk(calls[0]) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        assert used - {"exercises"} <= known, f"{path.name}: answer {k} uses undefined {used - known - {'exercises'}}"
        literals = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        assert not any(any(ch.isdigit() for ch in s) for s in literals), f"{path.name}: answer {k} writes a number"


def test_every_answer_function_is_asked_for():
    asked = set()
    for path in NOTEBOOKS:
        _, section = _try_it(path)
        asked |= {n.func.attr for c in section[1::2] for n in ast.walk(ast.parse(c.source))
                  if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert set(FUNCTIONS) == asked, f"unused: {set(FUNCTIONS) - asked}; unknown: {asked - set(FUNCTIONS)}"


def test_an_answer_shows_its_text_and_table():
    a = Answer("two <rows>", pd.DataFrame({"x": [1.5, 2.25]}))
    assert "two &lt;rows&gt;" in a._repr_html_() and "<table" in a._repr_html_()
    assert a._repr_html_().startswith("<details><summary>")  # closed until the student opens it
    assert repr(a).startswith("Answer. two <rows>") and "2.25" in repr(a)
    assert "<table" not in Answer("no table")._repr_html_()


# -- the answers on real runs (a smoke lab whose runs train one batch of one epoch) -----------------


@pytest.fixture(scope="module")
def lab(tmp_path_factory, one_thread):
    return Lab("smoke", output_root=tmp_path_factory.mktemp("out"), progress=False, executor="serial", epochs=1,
               max_batches=1)


@pytest.fixture(scope="module")
def runs(lab):
    student = lab.profile.students[0]
    return {"student": student, "teacher": lab.teacher(), "scratch": lab.student_from_scratch(student),
            "grid": lab.kd_grid(student=student), "ours": lab.stochastic_kd(student=student)}


def test_story_answers(runs):
    a = exercises.story_tau_against_scratch(runs["grid"], runs["scratch"])
    alone = runs["scratch"]["test_acc"].mean()
    assert list(a.table["tau"]) == sorted(runs["grid"]["tau"].unique())
    assert np.allclose(a.table["minus_alone"], a.table["test_acc_mean"] - alone)
    best = a.table.loc[a.table["test_acc_mean"].idxmax(), "tau"]
    assert f"tau = {best:g}" in a.text
    b = exercises.story_grid_of_size(runs["grid"], runs["ours"], 20)
    one = runs["grid"]["co2_g"].mean()
    assert f"{one * 20:.4g} g" in b.text and f"{one * 20 / runs['ours']['co2_g'].mean():.1f} times" in b.text


def test_fig1_answers(lab, runs):
    a = exercises.fig1_other_seeds(lab, runs["teacher"], {runs["student"]: runs["grid"]}, {runs["student"]: runs["ours"]})
    assert set(a.table["seed"]) == set(lab.profile.seeds) and "one seed" in a.text  # smoke: a single seed
    inference = pd.DataFrame({"method": ["teacher", "ours"], "model": ["resnet18", runs["student"]],
                              "images": [100, 100], "co2_g": [2e-6, 1e-6]})
    b = exercises.fig1_inference_passes(inference, {runs["student"]: runs["ours"]})
    assert b.table["passes"].iloc[0] == pytest.approx(runs["ours"]["co2_g"].mean() / 1e-6)
    with pytest.raises(ValueError, match="no 'ours' row"):
        exercises.fig1_inference_passes(inference.iloc[:1], {runs["student"]: runs["ours"]})


def test_fig2_answers():
    a = exercises.fig2_top_probability(torch.tensor([4.0, 0.0, 0.0]), high=20)
    assert a.table["teacher_top_probability"].is_monotonic_decreasing and len(a.table) == 20
    first_below = int(a.table.loc[a.table["teacher_top_probability"] < 0.5, "tau"].iloc[0])
    assert f"from tau = {first_below} on" in a.text

    class Batch:
        a_s, a_m, y = torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])

    b = exercises.fig2_alpha_change(Batch, [("fixed tau = 2", 2.0)], 0.95, 0.5, "batchmean")
    ce, kd = b.table.iloc[0, 2], b.table.iloc[0, 3]
    assert b.table["total, alpha=0.5"].iloc[0] == pytest.approx(0.5 * ce + 0.5 * kd, rel=1e-5)
    assert b.table["total, alpha=0.95"].iloc[0] == pytest.approx(0.05 * ce + 0.95 * kd, rel=1e-5)


def test_fig3_answers(lab, runs):
    a = exercises.fig3_smaller_grid(runs["grid"], runs["ours"], keep=1)
    smallest = min(runs["grid"]["tau"])
    assert a.table["chosen taus"].iloc[1] == f"{smallest:g}"  # one tau left: tuning keeps it
    assert a.table["co2_g"].iloc[0] >= a.table["co2_g"].iloc[1]  # the full grid costs at least its part
    b = exercises.fig3_per_epoch(lab, runs["student"], runs["ours"])
    assert b.table["taus_per_epoch"].iloc[1] == 1  # per epoch: one tau per epoch, read from the run's history
    assert list(b.table["tau drawn"]) == ["per batch (the paper's)", "per epoch"]


def test_table1_answers(lab, runs):
    rows = pd.concat([runs["teacher"], runs["scratch"], lab.tuned_kd(student=runs["student"]), runs["ours"]],
                     ignore_index=True)
    a = exercises.table1_one_tau_grid(rows)
    tuned = rows[rows["method"] == "kd-tuned"]
    assert a.table["one_tau_co2_g"].iloc[0] == pytest.approx((tuned["co2_g"] / tuned["trainings"]).mean())
    assert a.table["grid"].iloc[0] == len(lab.profile.tau_grid)
    b = exercises.table1_other_students(lab)  # trains the other student's grid and ours (one batch each)
    assert list(b.table["student"]) == list(lab.profile.students) and (b.table["ours_co2_vs_teacher"] > 0).all()


def test_table2_answers(lab, tmp_path):
    quick = Lab("quick", output_root=tmp_path, progress=False)  # no cap on the splits (smoke keeps 96 images each)
    a = exercises.table2_val_fraction(quick, 0.5)
    assert a.table["test"].nunique() == 1 and a.table["val"].iloc[1] > a.table["val"].iloc[0]
    assert a.table["train"].iloc[0] + a.table["val"].iloc[0] == pytest.approx(
        a.table["train"].iloc[1] + a.table["val"].iloc[1], abs=1)
    assert "at most 96 images per split" in exercises.table2_val_fraction(lab, 0.5).text
    bundle = lab.data()
    b = exercises.table2_class_balance({"digits": bundle, "cifar10": None})
    counts = pd.Series(bundle.train.targets).value_counts()
    assert list(b.table["dataset"]) == ["digits"] and b.table["rarest_images"].iloc[0] == counts.min()
    assert "No data set" in exercises.table2_class_balance({"cifar10": None}).text


def test_table3_answers():
    a = exercises.table3_num_classes(["mobilenetv2"], 100, 10, 16)
    assert a.table["params, 10 classes"].iloc[0] < a.table["params, 100 classes"].iloc[0]
    measured = pd.DataFrame({"model": ["a", "b"], "params (M)": [1.0, 4.0], "MFLOPs/image @16": [10.0, 8.0]})
    b = exercises.table3_flops_per_parameter(measured, 16)
    assert list(b.table["FLOPs per parameter"]) == [10.0, 2.0] and "a does the most" in b.text
    with pytest.raises(ValueError, match="lacks the columns"):
        exercises.table3_flops_per_parameter(measured, 32)


def _table4() -> pd.DataFrame:
    return pd.DataFrame({"dataset": ["digits"] * 4 + ["digit_scenes"] * 2,
                         "task": ["classification"] * 4 + ["detection"] * 2,
                         "loss": ["HKD", "HKD", "DML", "DML", "HKD", "HKD"],
                         "method": ["tuned", "ours"] * 3, "score_mean": [90.0, 91.0, 80.0, 78.0, 40.0, 41.0],
                         "co2_g": [3.0, 1.0, 6.0, 2.0, 9.0, 3.0]})


def test_table4_answers():
    a = exercises.table4_without_detection(_table4())
    assert a.table.set_index("task").loc["detection", "share (%)"] == pytest.approx(100 * 12 / 24)
    assert "2 detection rows" in a.text
    assert "No detection row" in exercises.table4_without_detection(_table4().iloc[:4]).text
    b = exercises.table4_objective_gains(_table4())
    gains = b.table.set_index(["task", "loss"])["ours - tuned (points)"]
    assert gains[("classification", "DML")] == -2 and gains[("classification", "HKD")] == 1
    assert (b.table["CO2 tuned / ours"] == 3).all()


def test_table5_answers():
    per_seed = pd.DataFrame({"row": ["Teacher", "KD, tuned tau", "Ours"] * 2, "seed": [0, 0, 0, 1, 1, 1],
                             "accuracy": [95, 90, 91, 94, 92, 89]})
    a = exercises.table5_other_seeds(per_seed)
    assert list(a.table["ranking (accuracy)"]) == ["Teacher > Ours > KD, tuned tau", "Teacher > KD, tuned tau > Ours"]
    assert "changes with the seed" in a.text
    f1 = pd.DataFrame({"teacher": [90.0, 80.0], "ours": [70.0, 85.0]}, index=["3", "8"])
    b = exercises.table5_worst_class(f1)
    assert list(b.table["worst class"]) == ["8", "3"] and "different classes" in b.text


def test_fig4_answers():
    y = np.array([0, 0, 1, 0])
    preds = {"teacher": Predictions(y, np.array([0, 0, 1, 0]), np.zeros((4, 2), np.float32)),
             "ours": Predictions(y, np.array([0, 1, 1, 1]), np.zeros((4, 2), np.float32))}
    a = exercises.fig4_disagreements(preds, 0, ["zero", "one"])
    assert list(a.table["test image"]) == [1, 3] and "disagree on 2" in a.text
    assert "image_index to 1, 2" in a.text  # images 1 and 3 are the 2nd and 3rd of class zero
    from greenkd_lib.engine.evaluate import confusion

    b = exercises.fig4_top_confusions({n: confusion(p, ["zero", "one"]) for n, p in preds.items()})
    assert b.table.set_index("model").loc["ours", "images"] == 2


def test_table6_answers():
    measured = pd.DataFrame({"dataset": ["digits"] * 4, "synthesizer": ["DFQ", "DFQ", "CMI", "CMI"],
                             "method": ["tuned", "ours"] * 2, "score_mean": [50.0, 52.0, 60.0, 55.0],
                             "co2_g": [4.0, 1.0, 8.0, 2.0], "synthesis_share": [0.6, 0.6, 0.8, 0.7]})
    a = exercises.table6_best_synthesizer(measured)
    assert "Keeping only DFQ" in a.text and (a.table["CO2 tuned / ours"] == 4).all()
    b = exercises.table6_synthesis_share(measured)
    assert list(b.table["synthesizer"]) == ["DFQ", "CMI"] and "70 %" in b.text


def test_table7_answers():
    table = pd.DataFrame({"pair": ["a -> b", "c -> d"], "CO2 tuned / ours": [3.3, 2.4], "ours - tuned acc": [0.5, -1.0]})
    a = exercises.table7_pairs(table)
    assert "largest for a -> b" in a.text and "smallest for c -> d" in a.text
    b = exercises.table7_grid_size(table, 3)
    assert b.table["ratio / grid size"].tolist() == pytest.approx([1.1, 0.8]) and "c -> d" in b.text


def test_table8_answers():
    t8 = pd.DataFrame({"method": ["teacher fp32", "Ours fp32", "Ours + PTQ int8", "Ours + QAT int8"],
                       "precision": ["fp32", "fp32", "int8", "int8"], "accuracy": [95.0, 90.0, 88.0, 89.5],
                       "float_run": ["t", "o", "o", "o"], "size_mb": [40.0, 8.0, 2.0, 2.5]})
    a = exercises.table8_int8_drop(t8)
    assert a.table["change (points)"].tolist() == pytest.approx([-2.0, -0.5]) and "Ours + QAT int8" in a.text
    b = exercises.table8_size_ratio(t8)
    assert b.table["teacher size / size"].max() == 20 and "Ours + PTQ int8" in b.text
    with pytest.raises(ValueError, match="no teacher row"):
        exercises.table8_size_ratio(t8.iloc[1:])


def test_ablation_answers(lab, runs):
    taus = [float(t) for t in range(1, 21)]
    sizes = pd.DataFrame([{"state": s, "reduction": "mean", "tau": t, "param_ratio": t / 10,
                           "kd_logit_norm": t, "ce_logit_norm": 10.0, "logit_ratio": t / 10, "kd_param_norm": t,
                           "ce_param_norm": 10.0} for s in ("at initialisation", "trained") for t in taus])
    a = exercises.ablation_narrow_range(sizes, 8, 12)
    trained = a.table[a.table["state"] == "trained"].iloc[0]
    assert trained["avg"] == pytest.approx(1.0) and trained["equivalent_tau"] == pytest.approx(10.0)
    with pytest.raises(ValueError, match="within the measured taus"):
        exercises.ablation_narrow_range(sizes, 8, 30)
    b = exercises.ablation_per_sample(lab, runs["student"])  # trains the per-sample run (one batch)
    assert list(b.table["seed"]) == list(lab.profile.seeds)
    assert b.table["difference"].iloc[0] == pytest.approx(b.table["per sample"].iloc[0] - b.table["per batch"].iloc[0])


def test_explorer_answers(lab):
    from greenkd_lib.paper import explorer as explore

    e = explore.from_lab(lab)
    a = exercises.explorer_balanced_alpha(e, [2.0, 20.0])
    for row in a.table.itertuples():
        m = e.measure(row.tau, row.balanced_alpha)
        assert m["kd_param_norm"] == pytest.approx(m["ce_param_norm"], rel=1e-4)  # balanced indeed
    e.draw(100)
    b = exercises.explorer_draws(e, lab)
    assert f"{np.mean(e.draws):.2f}" in b.text and len(b.table) == lab.profile.epochs
    assert not math.isnan(b.table["tau_mean"].iloc[0])
