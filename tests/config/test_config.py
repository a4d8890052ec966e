"""RunConfig: the hashes of stored runs never change, so a refactor cannot orphan a run store."""

import pytest

from greenkd_lib.config.run import RunConfig
from greenkd_lib.engine.configs import teacher_config
from greenkd_lib.methods import FixedTemperature, StochasticTemperature
from greenkd_lib.paper.lab import Lab
from greenkd_lib.runs.hashing import config_hash

# Measured before the distillation methods became plug-ins (issue 9): teacher, KD at tau 4, ours,
# and a student from scratch (last seed), per profile.
PINNED = {
    "quick": ("e1a2ad9bb3fb", "63c4228161de", "4a892a1502de", "e8f7c0f0891a"),
    "paper": ("8453ed2614dc", "a0df191ac5bc", "22419e7669b7", "87c695af26a9"),
    "smoke": ("a00d313cb89c", "e360c58b56db", "9f14fd5b4475", "d7ffdd40cd2f"),
}


def _configs(profile: str) -> list[RunConfig]:
    lab = Lab(profile, progress=False)
    p = lab.profile
    ours = StochasticTemperature(p.tau_low, p.tau_high, integer=True, per="batch", distribution="uniform",
                                 seed=p.seeds[0]).config()
    return [lab.teacher_config(), lab.kd_config(FixedTemperature(4.0).config()), lab.kd_config(ours),
            teacher_config(p, "mobilenetv2", lab.dataset, p.seeds[-1], lab.carbon)]


@pytest.mark.parametrize("profile", sorted(PINNED))
def test_stored_runs_keep_their_hashes(profile):
    assert tuple(config_hash(c.to_dict()) for c in _configs(profile)) == PINNED[profile]


@pytest.mark.parametrize("profile", sorted(PINNED))
def test_a_config_survives_its_json_round_trip(profile):
    for cfg in _configs(profile):
        again = RunConfig.from_dict(cfg.to_dict())
        assert again == cfg and config_hash(again.to_dict()) == config_hash(cfg.to_dict())
