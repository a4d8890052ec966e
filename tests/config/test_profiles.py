from __future__ import annotations

import pytest

from greenkd_lib.config.profiles import get_profile, PROFILES
from greenkd_lib.config.run import RunConfig
from greenkd_lib.engine.configs import check_config, run_label, student_config, teacher_config
from greenkd_lib.methods import StochasticTemperature
from greenkd_lib.runs import config_hash


def test_paper_profile_is_the_authors_recipe():
    p = get_profile("paper")
    assert (p.lr, p.momentum, p.weight_decay, p.batch_size, p.epochs) == (0.1, 0.9, 5e-4, 128, 100)
    assert p.milestones == (30, 60, 80) and p.gamma == 0.2 and p.warmup_epochs == 1.0
    assert len(p.seeds) == 5 and p.seeds[0] == 2320
    assert p.tau_grid == tuple(float(t) for t in range(1, 21))
    assert (p.tau_low, p.tau_high) == (2, 20)
    assert p.dataset is None and p.dataset_for("cifar10") == "cifar10"
    # The authors computed the KD term with nn.KLDivLoss()'s default reduction.
    assert p.kd_reduction == "mean" and p.alpha == 0.95


def test_every_profile_uses_the_papers_loss():
    assert {p.kd_reduction for p in PROFILES.values()} == {"mean"}
    assert get_profile("paper", kd_reduction="batchmean").kd_reduction == "batchmean"


def test_scaled_milestones():
    from greenkd_lib.config.profiles import scaled_milestones

    assert scaled_milestones(4) == (3,) and scaled_milestones(8) == (6,) and scaled_milestones(1) == ()
    with pytest.raises(ValueError, match="whole number"):
        scaled_milestones(0)


def test_quick_and_smoke_use_embedded_digits():
    for name in ("quick", "smoke"):
        assert PROFILES[name].dataset_for("tinyimagenet") == "digits"


def test_overrides_and_their_errors():
    p = get_profile("quick", epochs=7, seeds=[3, 4])
    assert p.epochs == 7 and p.seeds == (3, 4)
    assert get_profile("quick", epochs=None).epochs == PROFILES["quick"].epochs
    with pytest.raises(ValueError, match="did you mean 'epochs'"):
        get_profile("quick", epoch=3)
    with pytest.raises(ValueError, match="unknown profile 'quik'.*smoke, quick, paper.*'quick'"):
        get_profile("quik")


def test_run_config_round_trip_and_hash():
    p = get_profile("smoke")
    teacher = teacher_config(p, "resnet18", "digits", 0)
    student = student_config(p, "mobilenetv2", teacher, StochasticTemperature(2, 20, seed=0).config(), 0)
    again = RunConfig.from_dict(student.to_dict())
    assert again == student
    assert config_hash(again.to_dict()) == config_hash(student.to_dict())
    other = student_config(p, "mobilenetv2", teacher, StochasticTemperature(2, 20, seed=1).config(), 0)
    assert config_hash(other.to_dict()) != config_hash(student.to_dict())
    assert "resnet18->mobilenetv2 HKD" in run_label(student)


def test_kd_config_needs_teacher_and_policy():
    p = get_profile("smoke")
    teacher = teacher_config(p, "resnet18", "digits", 0)
    with pytest.raises(ValueError, match="needs a teacher config"):
        check_config(RunConfig(**{**teacher.__dict__, "method": "kd"}))
