"""Arguments checked at the door: every bad input fails with a clear error before anything is on disk.

Each error must name the parameter, show what was given and say how to fix it (an example value).
"""

from __future__ import annotations

import math
from pathlib import Path

import nbformat
import papermill
import pytest
import torch
from papermill.exceptions import PapermillExecutionError

from greenkd_lib.batch.cli import main
from greenkd_lib.batch.reproduce import notebooks, reproduce
from greenkd_lib.config.profiles import get_profile, PROFILES
from greenkd_lib.config.run import CarbonSettings, RunConfig
from greenkd_lib.engine.configs import teacher_config
from greenkd_lib.engine.train import get_or_run
from greenkd_lib.models import UnknownModelError
from greenkd_lib.paper.lab import Lab
from greenkd_lib.paper.parameters import check_parameters
from greenkd_lib.paths import notebooks_dir
from greenkd_lib.runs import RunStore

LIST_HINT = '-y "seeds: [0, 1]"'


def _nothing_on_disk(root: Path) -> None:
    assert not root.exists() or not any(root.rglob("*")), sorted(root.rglob("*"))


def _lab(tmp_path: Path, **kw) -> Lab:
    return Lab("smoke", output_root=tmp_path / "out", data_root=tmp_path / "data", progress=False, **kw)


# (id, Lab keyword arguments, words the message must hold: the parameter, the value given, the fix)
LAB_CASES = [
    ("seeds-int", dict(seeds=3), ["seeds", "got 3", "seeds=[0, 1]"]),
    ("seeds-str-items", dict(seeds=["a"]), ["seeds", "got ['a']", "seeds=[0, 1]"]),
    ("seeds-string", dict(seeds="0,1"), ["seeds", "got '0,1'", LIST_HINT]),
    ("seeds-float", dict(seeds=[1.7]), ["seeds", "got [1.7]", "whole numbers"]),
    ("seeds-empty", dict(seeds=[]), ["seeds", "got []", "non-empty", "seeds=[0, 1]"]),
    ("seeds-bool", dict(seeds=[True]), ["seeds", "got [True]", "seeds=[0, 1]"]),
    ("seeds-negative", dict(seeds=[-1]), ["seeds", "got [-1]", ">= 0"]),
    ("seeds-duplicate", dict(seeds=[0, 0]), ["seeds", "got [0, 0]", "distinct"]),
    ("epochs-float", dict(epochs=2.5), ["epochs", "got 2.5", "epochs=4"]),
    ("epochs-string", dict(epochs="2"), ["epochs", "got '2'", "epochs=4"]),
    ("epochs-zero", dict(epochs=0), ["epochs", "got 0", ">= 1"]),
    ("batch_size-zero", dict(batch_size=0), ["batch_size", "got 0", "batch_size=32"]),
    ("lr-negative", dict(lr=-1), ["lr", "got -1", "lr=0.025"]),
    ("lr-string", dict(lr="abc"), ["lr", "got 'abc'", "lr=0.025"]),
    ("lr-nan", dict(lr=math.nan), ["lr", "got nan", "finite"]),
    ("momentum-negative", dict(momentum=-0.1), ["momentum", "got -0.1", "momentum=0.9"]),
    ("weight_decay-negative", dict(weight_decay=-1e-4), ["weight_decay", "got -0.0001", "weight_decay=0.0005"]),
    ("gamma-zero", dict(gamma=0), ["gamma", "got 0", "gamma=0.2"]),
    ("gamma-negative", dict(gamma=-0.5), ["gamma", "got -0.5", "> 0"]),
    ("warmup_epochs-negative", dict(warmup_epochs=-1), ["warmup_epochs", "got -1", "warmup_epochs=0.25"]),
    ("val_fraction-zero", dict(val_fraction=0), ["val_fraction", "got 0", "val_fraction=0.1"]),
    ("val_fraction-one", dict(val_fraction=1), ["val_fraction", "got 1", "between 0 and 1"]),
    ("val_fraction-big", dict(val_fraction=1.5), ["val_fraction", "got 1.5", "val_fraction=0.1"]),
    ("image_size-small", dict(image_size=4), ["image_size", "got 4", ">= 8", "image_size=12"]),
    ("image_size-small-for-vgg", dict(image_size=12, teacher="vgg16"), ["image_size", "got 12", ">= 16", "vgg16"]),
    ("image_size-float", dict(image_size=12.5), ["image_size", "got 12.5", "image_size=12"]),
    ("subset-zero", dict(subset=0), ["subset", "got 0", "subset=96"]),
    ("milestones-decreasing", dict(milestones=[3, 1]), ["milestones", "got [3, 1]", "increasing", "milestones=[3]"]),
    ("milestones-float", dict(milestones=[1.5]), ["milestones", "got [1.5]", "whole epochs"]),
    ("milestones-string", dict(milestones="3"), ["milestones", "got '3'", '-y "milestones: [3]"']),
    ("tau_grid-empty", dict(tau_grid=[]), ["tau_grid", "got []", "tau_grid=[1, 4, 16]"]),
    ("tau_grid-zero", dict(tau_grid=[0, 1]), ["tau_grid", "got [0, 1]", "> 0"]),
    ("tau_grid-string", dict(tau_grid="1,4"), ["tau_grid", "got '1,4'", '-y "tau_grid: [1, 4, 16]"']),
    ("tau_low-above-tau_high", dict(tau_low=30), ["tau_low", "tau_high", "tau_low=30", "tau_low=2, tau_high=20"]),
    ("tau_low-zero", dict(tau_low=0), ["tau_low", "got 0", "tau_low=2"]),
    ("alpha-above-one", dict(alpha=1.5), ["alpha", "got 1.5", "alpha=0.95"]),
    ("alpha-negative", dict(alpha=-0.1), ["alpha", "got -0.1", "[0, 1]"]),
    ("kd_reduction-unknown", dict(kd_reduction="sum"), ["kd_reduction", "got 'sum'", "'batchmean'"]),
    ("batch_sizes-zero", dict(batch_sizes=[0, 16]), ["batch_sizes", "got [0, 16]", "batch_sizes=[16, 32, 64]"]),
    ("max_batches-zero", dict(max_batches=0), ["max_batches", "got 0", "max_batches=3"]),
    ("eval_batch_size-zero", dict(eval_batch_size=0), ["eval_batch_size", "got 0", "eval_batch_size=256"]),
    ("num_workers-negative", dict(num_workers=-1), ["num_workers", "got -1", "num_workers=0"]),
    ("unknown-knob", dict(epoch=3), ["'epoch'", "did you mean 'epochs'"]),
    ("carbon_intensity-string", dict(carbon_intensity="abc"), ["carbon_intensity", "got 'abc'", "carbon_intensity=294.21"]),
    ("carbon_intensity-negative", dict(carbon_intensity=-1), ["carbon_intensity", "got -1", ">= 0"]),
    ("carbon_intensity-nan", dict(carbon_intensity=math.nan), ["carbon_intensity", "got nan", "finite"]),
    ("carbon-both", dict(country="FRA", carbon_intensity=50), ["country", "carbon_intensity", "not both"]),
    ("country-two-letters", dict(country="FR"), ["country", "got 'FR'", "'FRA'"]),
    ("country-number", dict(country=250), ["country", "got 250", "'FRA'"]),
    ("country-unknown", dict(country="XYZ"), ["country", "'XYZ'", "'FRA'", "carbon_intensity"]),
    ("workers-zero", dict(workers=0), ["workers", "got 0", "use 1"]),
    ("device-unknown", dict(device="gpu"), ["device", "got 'gpu'", "device='cpu'"]),
    ("dataset-unknown", dict(dataset="cifar1000"), ["cifar1000", "cifar100"]),
]
if not torch.cuda.is_available():
    LAB_CASES.append(("device-cuda-absent", dict(device="cuda", workers=1), ["device 'cuda'", "CUDA", "'cpu'"]))
else:
    LAB_CASES.append(("device-cuda-index", dict(device=f"cuda:{torch.cuda.device_count()}"), ["device", "'cuda'"]))

MODEL_CASES = [  # the model registry's own error, listing the known names
    ("students-unknown", dict(students=["mobilenet"]), ["'mobilenet'", "mobilenetv2"]),
    ("teacher-unknown", dict(teacher="resnet19"), ["'resnet19'", "resnet18"]),
]


@pytest.mark.parametrize("kw, words", [pytest.param(kw, words, id=i) for i, kw, words in LAB_CASES])
def test_lab_refuses_a_bad_argument(tmp_path: Path, kw: dict, words: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        _lab(tmp_path, **kw)
    for w in words:
        assert w in str(err.value), f"{w!r} not in: {err.value}"
    _nothing_on_disk(tmp_path)


@pytest.mark.parametrize("kw, words", [pytest.param(kw, words, id=i) for i, kw, words in MODEL_CASES])
def test_lab_refuses_an_unknown_model(tmp_path: Path, kw: dict, words: list[str]) -> None:
    with pytest.raises(UnknownModelError) as err:
        _lab(tmp_path, **kw)
    assert all(w in str(err.value) for w in words), str(err.value)
    _nothing_on_disk(tmp_path)


# (id, experiment method, its keyword arguments, words the message must hold)
METHOD_CASES = [
    ("teacher-seeds-int", "teacher", dict(seeds=3), ["seeds", "got 3", "seeds=[0, 1]"]),
    ("teacher-model-unknown", "teacher", dict(model="resnet19"), ["'resnet19'", "resnet18"]),
    ("scratch-seeds-float", "student_from_scratch", dict(seeds=[0.5]), ["seeds", "got [0.5]"]),
    ("kd-seeds-string", "kd", dict(tau=4, seeds="0,1"), ["seeds", "got '0,1'", LIST_HINT]),
    ("kd-seeds-empty", "kd", dict(tau=4, seeds=[]), ["seeds", "got []", "seeds=[0, 1]"]),
    ("kd-student-unknown", "kd", dict(tau=4, student="mobilenet"), ["'mobilenet'", "mobilenetv2"]),
    ("kd-teacher-unknown", "kd", dict(tau=4, teacher="resnet19"), ["'resnet19'", "resnet18"]),
    ("kd-tau-zero", "kd", dict(tau=0), ["tau", "0"]),
    ("kd_grid-seeds-float", "kd_grid", dict(seeds=[1.7]), ["seeds", "got [1.7]"]),
    ("kd_grid-grid-empty", "kd_grid", dict(grid=[]), ["grid", "got []", "grid=[1, 4, 16]"]),
    ("kd_grid-grid-negative", "kd_grid", dict(grid=[-1, 2]), ["grid", "got [-1, 2]", "> 0"]),
    ("kd_grid-grid-string", "kd_grid", dict(grid="1,2"), ["grid", "got '1,2'", "grid=[1, 4, 16]"]),
    ("tuned_kd-seeds-bool", "tuned_kd", dict(seeds=[True]), ["seeds", "got [True]"]),
    ("tuned_kd-seeds-strings", "tuned_kd", dict(seeds=["a"]), ["seeds", "got ['a']"]),
    ("stochastic_kd-seeds-int", "stochastic_kd", dict(seeds=3), ["seeds", "got 3"]),
    ("stochastic_kd-batch_size-float", "stochastic_kd", dict(batch_size=2.5), ["batch_size", "got 2.5", "batch_size=32"]),
    ("stochastic_kd-low-above-high", "stochastic_kd", dict(low=20, high=2), ["low", "high"]),
    ("tuned_and_ours-seeds-empty", "tuned_and_ours", dict(seeds=[]), ["seeds", "got []"]),
    ("tuned_and_ours-grid-zero", "tuned_and_ours", dict(grid=[0]), ["grid", "got [0]"]),
    ("tuned_and_ours-method-unknown", "tuned_and_ours", dict(method="kdd"), ["'kdd'"]),
]


@pytest.mark.parametrize("method, kw, words", [pytest.param(m, kw, words, id=i) for i, m, kw, words in METHOD_CASES])
def test_experiments_refuse_a_bad_argument(tmp_path: Path, method: str, kw: dict, words: list[str]) -> None:
    lab = _lab(tmp_path, workers=1)
    with pytest.raises(ValueError) as err:
        getattr(lab, method)(**kw)
    for w in words:
        assert w in str(err.value), f"{w!r} not in: {err.value}"
    _nothing_on_disk(tmp_path)


def test_good_arguments_still_pass_and_keep_their_values() -> None:
    p = get_profile("quick", seeds=range(3), tau_grid=[1, 2], milestones=[], lr=1, image_size=None)
    assert p.seeds == (0, 1, 2) and p.tau_grid == (1, 2) and p.milestones == () and p.lr == 1
    for profile in PROFILES.values():  # the built-in profiles are derived without validate()
        profile.validate()
    assert CarbonSettings(country="fra").country == "fra"  # checked, not rewritten: hashes stay
    assert CarbonSettings(carbon_intensity=0).carbon_intensity == 0


RUN_CONFIG_CASES = [
    ("epochs", 2.5, "epochs must be a whole number >= 1, got 2.5"), ("seed", -1, "seed must be a whole number >= 0"),
    ("alpha", 2, "alpha must be a number in [0, 1]"), ("kd_reduction", "sum", "kd_reduction must be 'batchmean'"),
    ("image_size", 4, ">= 8 for resnet18, got 4"), ("milestones", (2, 1), "milestones must be a list"),
]


@pytest.mark.parametrize("field, value, words", [pytest.param(*c, id=c[0]) for c in RUN_CONFIG_CASES])
def test_run_config_checks_its_own_fields(field: str, value: object, words: str) -> None:
    cfg = teacher_config(get_profile("smoke"), "resnet18", "digits", 0)
    with pytest.raises(ValueError) as err:
        RunConfig(**{**cfg.__dict__, field: value})
    assert words in str(err.value) and f"e.g. {field}=" in str(err.value)


def test_a_config_seed_is_not_rounded() -> None:
    with pytest.raises(ValueError, match="seed must be a whole number >= 0, got 1.5; e.g. seed=0"):
        teacher_config(get_profile("smoke"), "resnet18", "digits", 1.5)  # not silently seed 1


def test_get_or_run_checks_the_device_before_the_store(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cfg = teacher_config(get_profile("smoke"), "resnet18", "digits", 0)
    with pytest.raises(ValueError, match="device 'cuda' asked for, but CUDA is not available"):
        get_or_run(cfg, store=RunStore(tmp_path / "runs"), data_root=tmp_path / "data", device="cuda",
                   progress=False)
    _nothing_on_disk(tmp_path)


# -- greenkd reproduce --------------------------------------------------------------------------
CLI_CASES = [
    ("jobs-zero", ["--jobs", "0"], ["--jobs", "'0'", ">= 1"]),
    ("jobs-word", ["--jobs", "two"], ["--jobs", "'two'", "--jobs 2"]),
    ("only-matches-nothing", ["--only", "fig99"], ["'fig99'", "01_fig1_carbon_vs_accuracy.ipynb"]),
    ("profile-unknown", ["--profile", "quik"], ["--profile", "'quik'", "quick"]),
    ("parameter-undeclared", ["-p", "epochs", "3"], ["'epochs'", "declared by none"]),
    ("parameter-not-yaml", ["-p", "synthesizers", "[dafl,"], ["-p synthesizers '[dafl,'", "not a YAML value"]),
]


@pytest.mark.parametrize("args, words", [pytest.param(a, w, id=i) for i, a, w in CLI_CASES])
def test_reproduce_cli_refuses_a_bad_argument(tmp_path: Path, capsys, args: list[str], words: list[str]) -> None:
    try:
        code = main(["reproduce", "--profile", "smoke", "--output", str(tmp_path / "out"), *args])
    except SystemExit as exit_:  # argparse's usage error
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert len([line for line in err.splitlines() if "error" in line]) == 1, err
    for w in words:
        assert w in err, f"{w!r} not in: {err}"
    _nothing_on_disk(tmp_path)


def test_reproduce_cli_passes_parameters_read_as_yaml(tmp_path: Path) -> None:
    import json

    code = main(["reproduce", "--profile", "smoke", "--only", "05_table2", "--output", str(tmp_path / "out"),
                 "-p", "examples_per_dataset", "2", "-p", "datasets", "[digits]"])
    assert code == 0
    executed = json.loads((tmp_path / "out" / "smoke" / "notebooks" / "05_table2_datasets.ipynb").read_text())
    injected = next("".join(c["source"]) for c in executed["cells"]
                    if "injected-parameters" in c["metadata"].get("tags", []))
    assert "examples_per_dataset = 2" in injected and 'datasets = ["digits"]' in injected


def test_reproduce_refuses_a_parameter_no_notebook_declares(tmp_path: Path) -> None:
    only = notebooks("05_table2")[0]
    with pytest.raises(ValueError, match=r"'epochs' are declared by none of the selected notebooks "
                                         r"\(05_table2_datasets\).*declare: .*seeds"):
        reproduce(profile="smoke", only="05_table2", output_root=tmp_path / "out", extra_parameters={"epochs": "abc"})
    assert only.exists()
    _nothing_on_disk(tmp_path)


# -- a notebook run directly with papermill -----------------------------------------------------
PARAMS = 'profile = "quick"\nseeds = None  # None: the profile\'s\nx: int = 1'


@pytest.mark.parametrize("history, unknown", [
    pytest.param(["", PARAMS, "# Parameters\nepochs = \"abc\"\n", "check_parameters()"], "'epochs'", id="unknown"),
    pytest.param(["", PARAMS, "# Parameters\nseeds = [0]\nx = 2\nprofiles = 'smoke'\n", "..."], "'profiles'",
                 id="misspelt"),
])
def test_check_parameters_refuses_what_the_parameters_cell_lacks(history: list[str], unknown: str) -> None:
    with pytest.raises(ValueError) as err:
        check_parameters(history)
    msg = str(err.value)
    assert f"no parameter {unknown}" in msg and "declares: profile, seeds, x" in msg and LIST_HINT in msg


def test_check_parameters_accepts_declared_ones_and_hand_runs() -> None:
    check_parameters(["", PARAMS, "# Parameters\nseeds = [0, 1]\nprofile = \"smoke\"\n", "..."])
    check_parameters(["", PARAMS, "epochs = 3", "..."])  # no injected cell just before: run by hand
    check_parameters(["", "..."])
    check_parameters()  # no IPython shell here


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_every_notebook_checks_its_parameters_first(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    first = code[1].source  # the cell after the parameters cell
    assert "check_parameters()" in first and first.index("check_parameters()") < first.index("Lab(")


def test_a_notebook_run_by_papermill_refuses_an_undeclared_parameter(tmp_path: Path) -> None:
    table2 = next(p for p in notebooks() if p.stem.startswith("05_table2_"))
    with pytest.raises(PapermillExecutionError) as err:
        papermill.execute_notebook(str(table2), str(tmp_path / "out.ipynb"),
                                   parameters={"profile": "smoke", "epochs": "abc", "output_root": str(tmp_path / "o")},
                                   cwd=str(notebooks_dir()), progress_bar=False, kernel_name="python3")
    assert "no parameter 'epochs'" in err.value.evalue and "declares: profile, dataset, seeds" in err.value.evalue
    assert not (tmp_path / "o").exists()
