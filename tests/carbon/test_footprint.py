"""The Footprint value type (greenkd_lib.carbon.footprint): sums of parts, dict round trip, validation."""

from __future__ import annotations

import pytest

from greenkd_lib.carbon import Footprint


def test_footprint_addition():
    a = Footprint(1.0, 294.21, 10.0, "measured", "RAPL", 294.21)
    b = Footprint(0.5, 147.105, 5.0, "estimate", "CPU TDP x load", 294.21)
    s = a + b
    assert (s.energy_kwh, s.duration_s, s.mode) == (1.5, 15.0, "estimate")
    assert s.co2_g == pytest.approx(441.315)
    assert s.carbon_intensity == 294.21 and s.detail == "RAPL; CPU TDP x load"
    gone = Footprint(None, None, 2.0, "unavailable", "no tracker", 294.21)
    u = s + gone
    assert u.energy_kwh is None and u.co2_g is None and u.mode == "unavailable" and u.duration_s == 17.0
    assert Footprint.zero() + a == a and a + Footprint.zero(294.21) == a
    assert (Footprint.zero(50.0) + Footprint(1.0, 2.0, 1.0, "estimate")).carbon_intensity == 50.0
    mixed = a + Footprint(1.0, 56.0, 1.0, "measured", "RAPL", 56.0)
    assert mixed.carbon_intensity == pytest.approx((294.21 + 56.0) / 2)
    assert sum([a, b], Footprint.zero()) == s


def test_footprint_addition_of_load_figures():
    quiet = Footprint(1.0, 1.0, 30.0, "estimate", machine_load=0.5, other_load=0.02)
    noisy = Footprint(1.0, 1.0, 10.0, "estimate", machine_load=1.0, other_load=0.5)
    assert (quiet.disturbed, noisy.disturbed) == (False, True)
    s = quiet + noisy
    assert s.machine_load == pytest.approx((0.5 * 30 + 1.0 * 10) / 40)  # duration-weighted
    assert s.other_load == pytest.approx((0.02 * 30 + 0.5 * 10) / 40)
    assert s.other_load < 0.15 and s.disturbed is True  # disturbed if any part was, whatever the mean
    assert s.attribution == "process" and (quiet + quiet).disturbed is False
    legacy = Footprint.from_dict(Footprint(1.0, 1.0, 5.0, "estimate").to_dict() | {"attribution": "machine"})
    resumed = legacy + quiet  # an old result file's part has no load figures: neither has the sum
    assert resumed.attribution == "mixed"
    assert resumed.machine_load is None and resumed.other_load is None and resumed.disturbed is None
    assert (legacy + noisy).disturbed is True  # ... but a disturbed part is known to disturb the sum
    assert Footprint.zero() + noisy == noisy and quiet + Footprint.zero() == quiet


def test_footprint_dict_round_trip_and_validation():
    fp = Footprint(1.0, 294.21, 10.0, "estimate", "CPU TDP x load + RAM model", 294.21,
                   machine_load=0.75, other_load=0.25)
    d = fp.to_dict()
    assert set(d) == {"energy_kwh", "co2_g", "duration_s", "mode", "detail", "carbon_intensity",
                      "attribution", "machine_load", "other_load", "sibling_load", "disturbed"}
    assert d["disturbed"] is True and d["attribution"] == "process"
    assert Footprint.from_dict(d) == fp
    # result.json files written before the load figures: still readable, charged to the machine
    old = {"energy_kwh": 1.0, "co2_g": 294.21, "duration_s": 10.0, "mode": "estimate", "detail": "",
           "carbon_intensity": 294.21}
    legacy = Footprint.from_dict(old)
    assert legacy.attribution == "machine" and legacy.disturbed is None
    assert legacy.machine_load is None and legacy.other_load is None
    assert Footprint.from_dict(legacy.to_dict()) == legacy
    for bad, message in [(dict(machine_load=1.5), "machine_load must be a share"),
                         (dict(other_load=-0.1), "other_load must be a share"),
                         (dict(machine_load=0.2, other_load=0.3), "cannot exceed machine_load"),
                         (dict(machine_load=0.9, other_load=0.5, disturbed=False), "disturbed cannot be False"),
                         (dict(disturbed="yes"), "disturbed must be"),
                         (dict(attribution="gpu"), "attribution must be one of")]:
        with pytest.raises(ValueError, match=message):
            Footprint(1.0, 1.0, 1.0, "estimate", **bad)
    with pytest.raises(ValueError, match="missing keys \\['mode'\\]"):
        Footprint.from_dict({k: v for k, v in d.items() if k != "mode"})
    with pytest.raises(ValueError, match="mode must be one of"):
        Footprint(1.0, 1.0, 1.0, "guessed")
    with pytest.raises(ValueError, match="unavailable"):
        Footprint(1.0, 1.0, 1.0, "unavailable")
    with pytest.raises(ValueError, match="energy_kwh"):
        Footprint(-1.0, 1.0, 1.0, "measured")
