"""What a run is, as plain data: profiles (named bundles of every training knob) and
:class:`RunConfig`, the value the run store hashes to name a run.

Part of the ground: it may import ``models`` (names and image sizes) and nothing above it; the
method's own check of a config is ``engine.configs.check_config``'s.
"""

from .profiles import PROFILES, Profile, TrainingKnobs, checked, get_profile, scaled_milestones
from .run import CarbonSettings, RunConfig

__all__ = ["PROFILES", "Profile", "TrainingKnobs", "checked", "get_profile", "scaled_milestones", "RunConfig",
           "CarbonSettings"]
