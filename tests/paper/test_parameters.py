"""The notebooks' ``overrides`` parameter: checked names, values checked by the Lab, recorded in run configs."""

from __future__ import annotations

import pytest

from greenkd_lib.methods import FixedTemperature
from greenkd_lib.paper.lab import Lab
from greenkd_lib.paper.parameters import OVERRIDES_HINT, profile_overrides


def _lab(tmp_path, overrides) -> Lab:
    """What every notebook's set-up cell does with its parameters."""
    return Lab("smoke", runs_root=tmp_path / "runs", progress=False, executor="serial",
               **profile_overrides(overrides))


def test_no_overrides_is_the_profile_itself(tmp_path):
    assert profile_overrides(None) == {} and profile_overrides({}) == {}
    assert _lab(tmp_path, None).profile == Lab("smoke", runs_root=tmp_path / "runs", executor="serial").profile


def test_an_override_reaches_every_run_config_it_changes(tmp_path):
    lab = _lab(tmp_path, {"epochs": 1, "lr": 0.5, "kd_reduction": "mean"})
    teacher = lab.teacher_config()
    student = lab.kd_config(FixedTemperature(4.0).config())
    for cfg in (teacher, student):
        assert (cfg.epochs, cfg.lr, cfg.profile) == (1, 0.5, "smoke")
        assert cfg.to_dict()["epochs"] == 1  # what the run store hashes and keeps in config.json
    assert student.kd_reduction == "mean" and student.teacher == teacher
    assert not (tmp_path / "runs").exists()  # configs only: nothing trained


@pytest.mark.parametrize("overrides, words", [
    pytest.param({"epoch": 8}, ["unknown profile field 'epoch'", "did you mean 'epochs'?"], id="unknown"),
    pytest.param({"workers": 4}, ["unknown profile field 'workers'"], id="a Lab argument, not a profile field"),
    pytest.param({"seeds": [0, 1]}, ["'seeds'", '-y "seeds: [0, 1]"'], id="own parameter"),
    pytest.param({"name": "paper"}, ["'name'", "-p profile"], id="name"),
    pytest.param({"max_batches": None}, ["max_batches: None would be ignored"], id="None"),
    pytest.param(8, ["overrides must map profile fields", "got 8", OVERRIDES_HINT], id="not a mapping"),
    pytest.param("epochs: 8", ["overrides must map profile fields", "got 'epochs: 8'"], id="a string"),
])
def test_a_bad_override_name_is_refused_naming_it(overrides, words):
    with pytest.raises(ValueError) as err:
        profile_overrides(overrides)
    assert all(w in str(err.value) for w in words), str(err.value)


@pytest.mark.parametrize("overrides, words", [
    pytest.param({"epochs": 0}, ["epochs", "got 0"], id="epochs"),
    pytest.param({"lr": "abc"}, ["lr", "got 'abc'"], id="lr"),
    pytest.param({"students": "mobilenetv2"}, ["students"], id="students"),
])
def test_a_bad_override_value_is_refused_naming_the_field(tmp_path, overrides, words):
    with pytest.raises(ValueError) as err:
        _lab(tmp_path, overrides)
    assert all(w in str(err.value) for w in words), str(err.value)
    assert not (tmp_path / "runs").exists()
