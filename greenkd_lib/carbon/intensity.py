"""Carbon intensity (g CO2/kWh): the paper's value, a checked custom value, or a country's from
codecarbon's offline grid data (never fetched from the network)."""

from __future__ import annotations

import difflib
import math

__all__ = ["PAPER_CARBON_INTENSITY", "check_intensity", "check_country", "country_intensity", "country_name"]

PAPER_CARBON_INTENSITY: float = 294.21
"""g CO2/kWh: carbontracker's EU-28 fallback, which every CO2/kWh pair of the paper's Table 4 implies."""


def check_intensity(value: float) -> float:
    """``value`` as a float of g CO2/kWh, or a ValueError naming the paper's value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"carbon_intensity must be a number of g CO2/kWh, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise ValueError(
            f"carbon_intensity must be a finite number >= 0 (g CO2/kWh), got {value!r}; "
            f"the paper's value is PAPER_CARBON_INTENSITY = {PAPER_CARBON_INTENSITY}"
        )
    return value


def _energy_mix() -> dict[str, dict]:
    from codecarbon.input import DataSource

    return DataSource().get_global_energy_mix_data()


def check_country(code: str) -> str:
    """``code`` as a 3-letter ISO code codecarbon's offline grid data knows, or a ValueError with suggestions."""
    if not isinstance(code, str) or not code.strip():
        raise ValueError(f"country_iso_code must be a 3-letter ISO code such as 'FRA' or 'USA', got {code!r}")
    code = code.strip().upper()
    mix = _energy_mix()
    if code in mix:
        return code
    names = {v.get("country_name", k): k for k, v in mix.items()}
    close = difflib.get_close_matches(code, mix, n=3, cutoff=0.6)
    close += [names[n] for n in names if n.upper().startswith(code) or code in n.upper().split()]
    close += [names[n] for n in difflib.get_close_matches(code.title(), names, n=3)]
    hint = ", ".join(f"{c!r} ({mix[c].get('country_name', c)})" for c in dict.fromkeys(close))
    raise ValueError(
        f"unknown country_iso_code {code!r}: codecarbon's offline data uses 3-letter ISO 3166 codes "
        f"such as 'FRA' or 'USA'" + (f"; did you mean {hint}?" if hint else "")
        + " (or pass carbon_intensity=<g CO2/kWh> instead)"
    )


def country_name(code: str) -> str:
    """The country's name in codecarbon's offline grid data (``code`` itself if it has none)."""
    return str(_energy_mix().get(code, {}).get("country_name", code))


def country_intensity(code: str) -> float:
    """The g CO2/kWh codecarbon charges for ``code`` (its own computation, on 1 kWh)."""
    from codecarbon.core.emissions import Emissions
    from codecarbon.core.units import Energy
    from codecarbon.external.geography import GeoMetadata
    from codecarbon.input import DataSource

    kg = Emissions(DataSource()).get_private_infra_emissions(
        Energy.from_energy(kWh=1.0), GeoMetadata(country_iso_code=code)
    )
    return float(kg) * 1000.0
