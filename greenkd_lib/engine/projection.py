"""Projected GPU-hours of the paper profile's heaviest notebooks from measured images/s.

``benchmarks/input_path.py`` measures images/s of a teacher epoch (ResNet18, cross-entropy) and a
KD epoch (ResNet18 -> MobileNetV2) on 32x32 CIFAR-10. Every other training of a notebook is
costed by its FLOPs: its training FLOPs per image (3x the student's forward, plus the teacher's
forward for KD) over the FLOP rate those two measurements imply, evaluation (val + test, every
epoch) as student forwards at the same rate. It is a projection: small models and 64x64 images
use a GPU differently, and batch size is ignored.

The plans follow the notebooks under the paper profile, each from an empty run store (the grids of
Table 1's Tiny ImageNet, Fig 3 and Table 7 are the same runs, trained once when run in sequence).
``grid="shared"`` (the profile's ``grid``) projects tuned KD's grids trained on one teacher pass per batch
(:mod:`greenkd_lib.engine.shared_grid`): the teacher's forward counted once per grid, not once per tau;
:func:`compare_grids` gives both modes side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..config.profiles import get_profile, Profile

__all__ = ["Trainings", "plan", "project", "compare_grids", "NOTEBOOKS"]

NOTEBOOKS = {"table1": "04_table1_carbon_footprints", "fig3": "03_fig3_tau_sensitivity",
             "table7": "11_table7_pairs"}


@dataclass(frozen=True)
class Trainings:
    """``count`` trainings of ``model`` on ``dataset``: cross-entropy (``teacher`` None) or KD from ``teacher``;
    ``grid``: the size of the tau grids they make up (0: not a tuned-KD grid)."""

    notebook: str
    dataset: str
    model: str
    teacher: str | None
    count: int
    grid: int = 0


def plan(notebook: str, profile: Profile | None = None) -> list[Trainings]:
    """The trainings ``notebook`` ("table1", "fig3", "table7") asks for under ``profile`` (default: paper)."""
    p = profile or get_profile("paper")
    seeds, grid, student = len(p.seeds), len(p.tau_grid), p.students[0]
    if notebook == "table1":  # per data set: teacher and student alone per seed, a tau grid and ours per seed
        return [t for d in ("cifar10", "cifar100", "tinyimagenet") for t in (
            Trainings(notebook, d, p.teacher, None, seeds), Trainings(notebook, d, student, None, seeds),
            Trainings(notebook, d, student, p.teacher, grid * seeds, grid),
            Trainings(notebook, d, student, p.teacher, seeds))]
    if notebook == "fig3":  # students learn from the first seed's teacher; ours at every batch size of 3b
        return [Trainings(notebook, "tinyimagenet", p.teacher, None, 1),
                Trainings(notebook, "tinyimagenet", student, p.teacher, grid * seeds, grid),
                Trainings(notebook, "tinyimagenet", student, p.teacher, len(p.batch_sizes) * seeds)]
    if notebook == "table7":  # the shared pairs on every seed, the others on the first seed only
        pairs = [(p.teacher, s, seeds) for s in p.students] + [("wrn_40_2", "wrn_16_1", 1), ("vgg16", "mobilenetv2", 1)]
        return [t for teacher, s, n in pairs for t in (Trainings(notebook, "tinyimagenet", teacher, None, n),
                                                       Trainings(notebook, "tinyimagenet", s, teacher, grid * n, grid),
                                                       Trainings(notebook, "tinyimagenet", s, teacher, n))]
    raise ValueError(f"unknown notebook {notebook!r}; choose one of {', '.join(NOTEBOOKS)}")


@lru_cache(maxsize=None)
def _forward_flops(model: str, num_classes: int, image_size: int) -> int:
    from .. import models

    return models.forward_flops(models.build(model, num_classes, image_size), image_size)


def _train_flops(model: str, teacher: str | None, classes: int, size: int, teacher_split: int = 1) -> float:
    """Training FLOPs per image; ``teacher_split``: the students one teacher forward serves (a shared grid's)."""
    own = 3 * _forward_flops(model, classes, size)  # forward + backward (carbon.flops.BACKWARD_FACTOR = 2)
    return own + (_forward_flops(teacher, classes, size) / teacher_split if teacher else 0)


def project(teacher_images_per_s: float, kd_images_per_s: float, profile: Profile | None = None,
            notebooks: tuple[str, ...] = tuple(NOTEBOOKS), grid: str | None = None):
    """GPU-hours per notebook (a DataFrame: notebook, trainings, epochs of images, GPU-hours) from the
    measured images/s of the ResNet18 teacher epoch and the ResNet18 -> MobileNetV2 KD epoch at 32x32.

    ``grid`` (None: the profile's): "naive", one complete training per tau; "shared", each tuned-KD grid
    on one teacher forward per batch, its students' own passes at the KD epoch's FLOP rate."""
    import pandas as pd

    from ..config.profiles import GRID_MODES
    from ..data import DOCUMENTED_SIZES

    p = profile or get_profile("paper")
    mode = p.grid if grid is None else grid
    if mode not in GRID_MODES:
        raise ValueError(f"grid must be one of {', '.join(map(repr, GRID_MODES))}, got {grid!r}; e.g. grid='shared'")
    ce_rate = teacher_images_per_s * _train_flops(p.teacher, None, 10, 32)  # FLOP/s
    kd_rate = kd_images_per_s * _train_flops(p.students[0], p.teacher, 10, 32)
    rows = []
    for name in notebooks:
        seconds, trainings, images = 0.0, 0, 0.0
        for t in plan(name, p):
            classes, train_n, test_n, size = DOCUMENTED_SIZES[t.dataset]
            fit = round(train_n * (1 - p.val_fraction))
            split = t.grid if mode == "shared" and t.grid > 1 else 1
            per_run = p.epochs * (fit * _train_flops(t.model, t.teacher, classes, size, split)
                                  + (train_n - fit + test_n) * _forward_flops(t.model, classes, size))
            seconds += t.count * per_run / (kd_rate if t.teacher else ce_rate)
            trainings += t.count
            images += t.count * p.epochs * fit
        rows.append({"notebook": NOTEBOOKS[name], "trainings": trainings, "training images (M)": images / 1e6,
                     "GPU-hours": seconds / 3600})
    table = pd.DataFrame(rows)
    total = {"notebook": "total", "trainings": table["trainings"].sum(),
             "training images (M)": table["training images (M)"].sum(), "GPU-hours": table["GPU-hours"].sum()}
    return pd.concat([table, pd.DataFrame([total])], ignore_index=True)


def compare_grids(teacher_images_per_s: float, kd_images_per_s: float, profile: Profile | None = None,
                  notebooks: tuple[str, ...] = tuple(NOTEBOOKS)):
    """GPU-hours per notebook with tuned KD's grids trained naively and on a shared teacher, and their ratio."""
    naive = project(teacher_images_per_s, kd_images_per_s, profile, notebooks, grid="naive")
    shared = project(teacher_images_per_s, kd_images_per_s, profile, notebooks, grid="shared")
    return naive[["notebook", "trainings"]].assign(**{
        "GPU-hours, naive grid": naive["GPU-hours"], "GPU-hours, shared grid": shared["GPU-hours"],
        "shared / naive": shared["GPU-hours"] / naive["GPU-hours"]})
