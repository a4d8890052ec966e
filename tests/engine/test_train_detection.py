"""Detection runs through the real loop: Lab.detection(), the run store, resume, results the tables read."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from greenkd_lib.config.run import RunConfig
from greenkd_lib.engine.train import get_or_run
from greenkd_lib.methods import FixedTemperature
from greenkd_lib.paper import table4
from greenkd_lib.paper.lab import Lab
from greenkd_lib.runs import RunStore


@pytest.fixture(scope="module")
def det_lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("det")
    return Lab("smoke", output_root=root / "outputs", data_root=root / "data", progress=False).detection()


def test_the_detection_lab_takes_the_profiles_detection_settings(det_lab):
    assert det_lab.is_detection and det_lab.dataset == "digit_scenes"
    assert det_lab.profile.teacher == "ssd_vgg16_narrow"
    assert det_lab.profile.students == ("ssdlite_mobilenetv2_narrow",)
    assert "not the paper's model" in table4.detection_pair(det_lab)
    assert Lab("smoke", dataset="digit_scenes", output_root=det_lab.store.root.parent).is_detection


def test_a_teacher_and_its_students_train_and_read_back(det_lab):
    rows = det_lab.tuned_and_ours("kd")
    assert set(rows["method"]) == {"kd-tuned", "ours"}
    assert rows["test_acc"].between(0, 100).all() and (rows["gflops_millions"] > 0).all()
    again = det_lab.tuned_and_ours("kd")  # read back: same numbers
    pd.testing.assert_frame_equal(rows.drop(columns=["wall_s"]), again.drop(columns=["wall_s"]), check_like=True)
    result = det_lab.run(det_lab.kd_config(FixedTemperature(2.0).config()))
    assert result["task"] == "detection" and result["metric"] == "mAP@0.5 (VOC07 11-point)"
    assert 0 <= result["metrics"]["test_map_all_point"] <= 100  # VOC2010's all-point average, beside it
    teacher = det_lab.run(det_lab.teacher_config())
    # The student's training counts the teacher's forward: more FLOPs per image than its own 3 passes.
    assert result["flops"]["train_per_sample"] == 3 * result["flops"]["student_forward"] + \
        teacher["flops"]["student_forward"]


def test_table4_rows_of_a_detection_lab_are_in_the_contract_columns(det_lab):
    measured = table4.measure_all([det_lab], {"kd": [0], "dml": [0]})
    assert list(measured.columns[:len(table4.TABLE4_COLUMNS)]) == table4.TABLE4_COLUMNS
    assert set(measured["task"]) == {"detection"} and set(measured["metric"]) == {"mAP"}
    ours = measured[measured["method"] == "ours"].set_index("loss")
    assert ours.loc["DML", "gflops_millions"] > ours.loc["HKD", "gflops_millions"]  # two detectors trained


def test_cmc_trains_on_pooled_features_with_a_memory_slot_per_image(det_lab):
    rows = det_lab.kd(4.0, method="cmc")
    assert len(rows) == 1 and math.isfinite(rows["test_acc"].iloc[0])
    history = det_lab.history(rows["hash"].iloc[0])
    assert {"loss_bbox", "loss_cls", "loss_kd", "loss_crd"} <= set(history.columns)


def test_an_interrupted_detection_run_resumes_to_the_same_numbers(det_lab, tmp_path, monkeypatch):
    import greenkd_lib.engine.loops.detection as det_train

    cfg = det_lab.kd_config(FixedTemperature(4.0).config(), seed=det_lab.profile.seeds[0])
    cfg = RunConfig.from_dict({**cfg.to_dict(), "epochs": 3, "milestones": [2]})
    clean = get_or_run(cfg, store=RunStore(tmp_path / "clean"), data_root=det_lab.data_root, progress=False)

    real, calls = det_train.detector_map, []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # epoch 2's validation: epoch 1 is checkpointed
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    store = RunStore(tmp_path / "killed")
    get_or_run(cfg.teacher, store=store, data_root=det_lab.data_root, progress=False)
    monkeypatch.setattr(det_train, "detector_map", failing)
    with pytest.raises(KeyboardInterrupt):
        get_or_run(cfg, store=store, data_root=det_lab.data_root, progress=False)
    assert len(store.run(cfg.to_dict()).history()) == 1
    monkeypatch.setattr(det_train, "detector_map", real)
    resumed = get_or_run(cfg, store=store, data_root=det_lab.data_root, progress=False)
    columns = ["train_loss", "val_acc", "test_acc", "tau_mean", "test_map_all_point"]
    pd.testing.assert_frame_equal(store.run(cfg.to_dict()).history()[columns],
                                  RunStore(tmp_path / "clean").run(cfg.to_dict()).history()[columns])
    assert resumed["metrics"]["test_acc"] == clean["metrics"]["test_acc"]


def test_a_method_without_a_detection_version_is_refused_by_name(det_lab):
    from greenkd_lib.methods import detection_method

    with pytest.raises(ValueError, match="no detection version.*kd"):
        detection_method("dafl")
    assert detection_method("HKD").name == "kd"


@pytest.mark.slow
def test_a_teacher_trained_on_digit_scenes_finds_the_digits(tmp_path):
    """Clearly above chance: the quick recipe cut to 3 epochs (150 steps) against the same detector
    untrained (lr = 0 keeps its initial weights; chance is about 0 mAP). The quick profile's own
    5-epoch teacher reaches about 46 % (README)."""
    lab = Lab("quick", output_root=tmp_path / "outputs", progress=False).detection()
    lab.profile = lab.profile.replace(epochs=3, milestones=(2,))
    trained = lab.teacher()["test_acc"].iloc[0]
    lab.profile = lab.profile.replace(lr=0.0, epochs=1, milestones=(), max_batches=1)
    untrained = lab.teacher()["test_acc"].iloc[0]
    assert untrained < 1.0 and trained > 10.0, (trained, untrained)


def test_a_voc_run_reads_the_papers_07_plus_12_and_says_what_is_missing(tmp_path):
    from tests.helpers.datagen import write_voc

    from greenkd_lib.data import DatasetNotFoundError
    from greenkd_lib.engine.loops.detection import data_for

    lab = Lab("paper", output_root=tmp_path / "outputs", progress=False).detection()
    cfg = lab.teacher_config()
    assert cfg.dataset == "voc" and cfg.model == "ssd_vgg16" and cfg.image_size == 300
    write_voc(tmp_path / "data", years=("2007",))
    with pytest.raises(DatasetNotFoundError, match="VOC2012"):
        data_for(cfg, tmp_path / "data")
    write_voc(tmp_path / "data", years=("2007", "2012"))
    bundle = data_for(cfg, tmp_path / "data")
    assert len(bundle.train) + len(bundle.val) == 2 * 6 and len(bundle.test) == 4


def test_another_detectors_weights_in_a_teachers_best_are_named_not_loaded_raw(det_lab, tmp_path):
    import warnings

    from greenkd_lib.engine.loops.detection import load_detector
    from greenkd_lib.runs import RunIntegrityError
    from greenkd_lib.runs.integrity import torch_bytes, write_verified

    teacher, student = det_lab.teacher_config(), det_lab.teacher_config(model=det_lab.profile.students[0])
    store = RunStore(tmp_path / "runs")
    for cfg in (teacher, student):
        get_or_run(cfg, store=store, data_root=det_lab.data_root, progress=False)
    run = store.run(teacher.to_dict())
    stranger = store.run(student.to_dict()).load_weights("best")  # valid checksum, another model
    write_verified(run.weights_dir / "best.pt", torch_bytes(stranger))
    named = f"best.pt passed its checksum but does not fit run {run.hash}"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = load_detector(teacher, store)  # re-derived from the best epoch's checkpoint
        except RunIntegrityError as err:  # or, with that checkpoint gone, reopened: train it again
            assert named in str(err) and "train it again" in str(err)
            return
    assert any(named in str(w.message) for w in caught)
    assert set(model.state_dict()) != set(stranger)
