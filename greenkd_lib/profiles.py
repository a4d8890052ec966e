"""Profiles: named bundles of every training knob (smoke for tests, quick for a laptop, paper)."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass

__all__ = ["TrainingKnobs", "Profile", "PROFILES", "get_profile", "scaled_milestones"]


@dataclass(frozen=True, kw_only=True)
class TrainingKnobs:
    """The knobs a profile hands to every run it makes: data, schedule and optimizer.

    Defined once here; :class:`Profile` and :class:`greenkd_lib.config.RunConfig` both inherit them,
    so a knob added here reaches every run config (and its hash) without copying fields by hand.
    """

    image_size: int | None = None  # None: the data set's own size
    subset: int | None = None  # at most this many samples per split (smoke runs)
    val_fraction: float = 0.1
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float
    warmup_epochs: float  # linear warm-up, per batch, over this many epochs
    milestones: tuple[int, ...]  # epochs at which lr is multiplied by gamma
    gamma: float
    max_batches: int | None = None  # cap on training batches per epoch (smoke)
    eval_batch_size: int = 256

    def training_knobs(self) -> dict[str, object]:
        """The :class:`TrainingKnobs` fields of this object, by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(TrainingKnobs)}


@dataclass(frozen=True, kw_only=True)
class Profile(TrainingKnobs):
    """Every knob of an experiment. Any field can be overridden: ``get_profile("quick", epochs=2)``.

    ``dataset=None`` means "the data set the figure or table uses in the paper" (paper profile);
    the quick and smoke profiles pin the embedded ``digits`` data set instead.
    """

    name: str
    dataset: str | None
    seeds: tuple[int, ...]
    tau_grid: tuple[float, ...]  # traditional (tuned) KD: one full training per value
    tau_low: float  # stochastic KD: tau drawn from [tau_low, tau_high]
    tau_high: float
    alpha: float  # weight of the KD term
    kd_reduction: str  # "batchmean" (Hinton) or "mean" (the authors' KLDivLoss default)
    batch_sizes: tuple[int, ...]  # Fig 3b: the stochastic method across batch sizes
    teacher: str
    students: tuple[str, ...]  # student 1 and student 2 of Fig 1
    num_workers: int
    # Parameters of the distillation methods, per registered method name (greenkd_lib.distill.methods),
    # e.g. {"cmc": {"nce_k": 16384}}; a method's own defaults fill the rest.
    method_params: dict[str, dict[str, object]] = dataclasses.field(default_factory=dict)

    def replace(self, **overrides: object) -> "Profile":
        """A copy with some fields changed; unknown fields raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            hints = {u: difflib.get_close_matches(u, known, n=1) for u in unknown}
            detail = ", ".join(f"{u!r}" + (f" (did you mean {h[0]!r}?)" if h else "") for u, h in hints.items())
            raise ValueError(f"unknown profile field(s) {detail}; known fields: {', '.join(sorted(known))}")
        for key in ("milestones", "seeds", "tau_grid", "batch_sizes", "students"):
            if key in overrides and overrides[key] is not None and not isinstance(overrides[key], tuple):
                overrides[key] = tuple(overrides[key])  # papermill passes lists
        return dataclasses.replace(self, **overrides)

    def dataset_for(self, paper_dataset: str) -> str:
        """The data set to use where the paper used ``paper_dataset``."""
        return self.dataset or paper_dataset


def scaled_milestones(epochs: int, at: float = 0.75) -> tuple[int, ...]:
    """One lr drop at fraction ``at`` of a short schedule (the quick profile's rule; none for 1 epoch)."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a whole number >= 1, got {epochs!r}")
    drop = round(at * epochs)
    return (drop,) if 1 <= drop < epochs else ()


_PAPER = Profile(
    name="paper",
    dataset=None,
    image_size=None,
    subset=None,
    val_fraction=0.1,
    epochs=100,
    batch_size=128,
    lr=0.1,
    momentum=0.9,
    weight_decay=5e-4,
    warmup_epochs=1.0,
    milestones=(30, 60, 80),
    gamma=0.2,
    seeds=(2320, 2321, 2322, 2323, 2324),  # 2320 is the authors'; the other four are ours
    tau_grid=tuple(float(t) for t in range(1, 21)),
    tau_low=2.0,
    tau_high=20.0,
    alpha=0.95,
    # The authors' nn.KLDivLoss() default: the KD term averaged over batch *and* classes (their numbers
    # came from it); "batchmean" (Hinton) is one override away.
    kd_reduction="mean",
    batch_sizes=(64, 128, 256),
    teacher="resnet18",
    students=("mobilenetv2", "shufflenetv2"),
    max_batches=None,
    eval_batch_size=512,
    num_workers=4,
)

# The quick profile: the embedded digits, sized so that the whole notebook series regenerates in
# about 10 minutes on 2 CPU cores. Its schedule was chosen by a convergence rule fixed before
# looking at ours against tuned KD (greenkd_lib/schedule_study.py, README "Profiles"): the
# shortest number of epochs E at which every model comes within 2 points of what it reaches with
# 4E. The 8x8 digits are upsampled to 12x12, where every network's last feature map is at least
# 2x2: at 8x8 the stride-8 networks end at 1x1, BatchNorm then normalises over the batch alone, and
# a MobileNetV2 trained alone fell to 49 % in eval mode (measured); 16x16 costs 1.3x the time.
# The paper's lr 0.1 at batch 128 is scaled linearly to batch 32; warm-up is a quarter epoch and
# lr drops x0.2 once, at 3/4.
_QUICK = _PAPER.replace(
    name="quick",
    dataset="digits",
    image_size=12,
    epochs=4,
    batch_size=32,
    lr=0.025,
    warmup_epochs=0.25,
    milestones=scaled_milestones(4),
    seeds=(0, 1),
    # Three log-spaced values (each one a full training per seed, in every grid of the series):
    # with five, the batch took 1.4x as long.
    tau_grid=(1.0, 4.0, 16.0),
    batch_sizes=(16, 32, 64),
    eval_batch_size=512,
    num_workers=0,
    # CMC's 16384 negatives exceed digits' 1,293 training images; 512 keeps RepDistiller's ratio of
    # negatives to data (16384 of 50,000 CIFAR images) within a factor of 1.2.
    method_params={"cmc": {"nce_k": 512}},
)

_SMOKE = _QUICK.replace(
    name="smoke",
    image_size=12,
    subset=96,
    epochs=2,
    batch_size=16,
    milestones=(1,),
    seeds=(0,),
    tau_grid=(2.0, 8.0),
    batch_sizes=(8, 16),
    max_batches=3,
    eval_batch_size=64,
    method_params={"cmc": {"nce_k": 16}},
)

PROFILES: dict[str, Profile] = {p.name: p for p in (_SMOKE, _QUICK, _PAPER)}


def get_profile(name: str | Profile = "quick", **overrides: object) -> Profile:
    """The named profile with ``overrides`` applied (``None`` values are ignored)."""
    if isinstance(name, Profile):
        profile = name
    else:
        if name not in PROFILES:
            hint = difflib.get_close_matches(str(name), PROFILES, n=1)
            raise ValueError(
                f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}"
                + (f" (did you mean {hint[0]!r}?)" if hint else "")
            )
        profile = PROFILES[name]
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return profile.replace(**overrides) if overrides else profile
