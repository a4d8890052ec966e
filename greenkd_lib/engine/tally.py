"""A running tally of the energy spent since a run's last checkpoint, so a killed epoch's cost is not lost.

While an epoch trains, ``energy_tally.json`` in the run's directory is rewritten (atomically, after
the first batch past each checkpoint or start, then at most every :data:`TALLY_EVERY_S` seconds) with
the footprint spent since the last checkpoint. A run resumed from that checkpoint adds it to its
footprint and reports it as ``lost_partial_epochs`` in its result: the energy of work that was done,
then thrown away by the kill and done again.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from ..carbon import CarbonMeter, Footprint
from ..runs.atomic import atomic_write_json

__all__ = ["TALLY_NAME", "TALLY_EVERY_S", "EnergyTally", "lost_since", "minus"]

logger = logging.getLogger(__name__)

TALLY_NAME = "energy_tally.json"
TALLY_EVERY_S = 10.0  # a meter read is a codecarbon flush: cheap, but not free every batch


def minus(later: Footprint, earlier: Footprint | None) -> Footprint:
    """The work between two cumulative readings of one meter (load figures are not kept)."""
    if earlier is None or earlier.is_empty:
        return later

    def diff(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else max(a - b, 0.0)  # max: rounding must not go below 0

    energy, co2 = diff(later.energy_kwh, earlier.energy_kwh), diff(later.co2_g, earlier.co2_g)
    if later.mode == "unavailable":
        energy = co2 = None
    return Footprint(energy, co2, max(later.duration_s - earlier.duration_s, 0.0), later.mode, later.detail,
                     later.carbon_intensity, later.attribution)


def lost_since(run_dir: Path, epoch: int) -> Footprint | None:
    """The footprint a killed process spent after the checkpoint of ``epoch``, if its tally says so."""
    path = Path(run_dir) / TALLY_NAME
    try:
        tally = json.loads(path.read_text(encoding="utf-8"))
        if tally["after_epoch"] != epoch:  # the tally predates the checkpoint resumed from: already counted
            return None
        return Footprint.from_dict(tally["lost"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:  # a damaged tally costs a figure, not the run
        logger.warning("ignored the energy tally %s (%s: %s): the energy of an interrupted epoch is not counted",
                       path, type(exc).__name__, exc)
        return None


class EnergyTally:
    """Keeps ``energy_tally.json`` up to date for one training process.

    ``carried`` is the lost work absorbed at resume that no checkpoint holds yet; it stays in the
    tally until the next checkpoint, so a second kill does not lose it either.
    """

    def __init__(self, run_dir: Path, meter: CarbonMeter, after_epoch: int, carried: Footprint) -> None:
        self.path = Path(run_dir) / TALLY_NAME
        self.meter = meter
        self.after_epoch = after_epoch
        self.carried = carried
        self.at_checkpoint: Footprint | None = None  # the meter's reading at this process's last checkpoint
        self._written = time.monotonic()
        self._first_batch = True  # the first batch after a start or checkpoint is tallied at once

    def tick(self) -> None:
        """Called after every batch: rewrite the tally when it is due.

        Due on the first batch after a start or checkpoint (one small write per epoch): a kill within
        :data:`TALLY_EVERY_S` of a checkpoint would otherwise leave a tally of nothing.
        """
        if self._first_batch or time.monotonic() - self._written >= TALLY_EVERY_S:
            self.write()
            self._first_batch = False

    def write(self, lost: Footprint | None = None) -> None:
        if lost is None:
            lost = self.carried + minus(self.meter.read(), self.at_checkpoint)
        try:
            atomic_write_json(self.path, {"after_epoch": self.after_epoch, "lost": lost.to_dict()})
        except OSError as exc:  # never stop a run for its tally
            logger.warning("could not update the energy tally %s: %s", self.path, exc)
        self._written = time.monotonic()

    def checkpointed(self, epoch: int, reading: Footprint) -> None:
        """The checkpoint of ``epoch`` now holds everything measured up to ``reading``."""
        self.after_epoch, self.at_checkpoint = epoch, reading
        self.carried = Footprint.zero(reading.carbon_intensity)
        self.write(self.carried)
        self._first_batch = True

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
