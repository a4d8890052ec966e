"""How the quick profile's schedule was chosen: a convergence rule fixed before looking at ours vs tuned.

The rule: a schedule of E epochs is converged when the teacher, each student trained alone, and
fixed-tau KD students at the lowest and highest tau of the grid each reach, in mean test accuracy
over the profile's seeds, within ``tolerance`` points of what the same run reaches with
``factor`` x E epochs, and the seed-to-seed std of each at E epochs stays under ``max_std`` points.
The quick profile uses the shortest candidate E that passes. Stochastic and tuned KD are never
trained by the study, so the choice cannot favour either.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd

from .. import paths
from ..config.profiles import get_profile, Profile, scaled_milestones

__all__ = ["RULE", "STUDY_CSV", "schedule_profile", "run_study", "judge", "shortest_passing", "load_study",
           "rule_caption"]

RULE = {"factor": 4, "tolerance": 2.0, "max_std": 1.5}
"""The rule's constants, fixed before the study was run."""

STUDY_CSV = "benchmarks/results/quick_schedule_study.csv"
"""Where the committed study (one row per trained model) lives, relative to the project root."""


def schedule_profile(base: str | Profile, epochs: int) -> Profile:
    """``base`` with ``epochs`` epochs and the paper's milestones scaled to them."""
    return get_profile(base, epochs=int(epochs), milestones=scaled_milestones(int(epochs)))


def _members(lab) -> list[tuple[str, str, object]]:
    """(member, model, thunk returning the rows) of the rule, for one Lab."""
    low, high = min(lab.profile.tau_grid), max(lab.profile.tau_grid)
    student = lab.profile.students[0]
    members = [("teacher", lab.profile.teacher, lambda: lab.teacher())]
    members += [(f"{s} alone", s, (lambda s=s: lab.student_from_scratch(s))) for s in lab.profile.students]
    members += [(f"{student} KD tau={t:g}", student, (lambda t=t: lab.kd(t, student=student))) for t in (low, high)]
    return members


def run_study(candidates: Iterable[int], base: str = "quick", *, runs_root: str | Path | None = None,
              workers: int | None = None, progress: bool = True, short_only: Iterable[int] = (),
              **overrides) -> pd.DataFrame:
    """Train every member of the rule at each candidate E and at factor x E; one row per model and seed.

    Candidates in ``short_only`` are trained at E alone: enough to see one fail the std criterion,
    which needs no long arm (the long arms are the study's main cost).
    """
    from .lab import Lab

    rows = []
    short_only = set(short_only)
    for epochs in sorted(set(candidates) | short_only):
        arms = [("E", epochs)]
        if epochs not in short_only:
            arms.append((f"{RULE['factor']}E", RULE["factor"] * epochs))
        for arm, e in arms:
            profile = schedule_profile(get_profile(base, **overrides), e)
            lab = Lab(profile, runs_root=runs_root, workers=workers, progress=progress)
            for member, model, rows_of in _members(lab):
                for _, r in rows_of().iterrows():
                    rows.append({"candidate_epochs": epochs, "arm": arm, "epochs": e, "member": member,
                                 "model": model, "seed": r["seed"], "test_acc": r["test_acc"],
                                 "best_test_acc": r["best_test_acc"], "wall_s": r["wall_s"],
                                 "batch_size": profile.batch_size, "lr": profile.lr,
                                 "image_size": profile.image_size, "kd_reduction": profile.kd_reduction})
    return pd.DataFrame(rows)


def judge(study: pd.DataFrame, tolerance: float = RULE["tolerance"], max_std: float = RULE["max_std"]) -> pd.DataFrame:
    """Per candidate and member: mean and std at E, mean at factor x E, the gap, and whether the rule holds."""
    short = study[study["arm"] == "E"].groupby(["candidate_epochs", "member"], sort=False)["test_acc"]
    long = study[study["arm"] != "E"].groupby(["candidate_epochs", "member"], sort=False)["test_acc"].mean()
    out = pd.DataFrame({"acc_E_mean": short.mean(), "acc_E_std": short.std(ddof=1)})
    out["acc_long_mean"] = long.reindex(out.index)  # NaN where the long arm was not run
    out["gap"] = out["acc_long_mean"] - out["acc_E_mean"]
    steady = out["acc_E_std"].fillna(0) < max_std
    # Without a long arm a member can still fail (std), but never pass.
    out["passes"] = steady & (out["gap"] <= tolerance)
    out["why"] = [("seed std >= %g" % max_std) if not ok else ("not trained at 4E" if pd.isna(g) else
                  ("gap > %g" % tolerance) if g > tolerance else "passes")
                  for ok, g in zip(steady, out["gap"])]
    return out.reset_index()


def shortest_passing(verdict: pd.DataFrame) -> int | None:
    """The smallest candidate E whose every member passes, or None."""
    ok = verdict.groupby("candidate_epochs")["passes"].all()
    passing = sorted(int(e) for e, good in ok.items() if good)
    return passing[0] if passing else None


def load_study(path: str | Path | None = None) -> pd.DataFrame:
    """The committed study (``STUDY_CSV``), with a clear error when it is missing."""
    path = Path(path) if path is not None else paths.benchmark_results_dir() / Path(STUDY_CSV).name
    if not path.is_file():
        raise FileNotFoundError(f"the quick-profile schedule study {path} is missing; regenerate it with "
                                "`.venv/bin/python benchmarks/quick_schedule.py` (35 minutes on 2 cores)")
    return pd.read_csv(path)


# -- captions (every number from the run) -----------------------------------------------------------


def rule_caption(study: pd.DataFrame, title: str) -> str:
    """The caption of the rule's table (``story_schedule_rule``): the study's seeds and KL reduction, and
    ``title``, the lab of the notebook that shows it."""
    seeds = ", ".join(map(str, sorted(study["seed"].unique())))
    return (f"The convergence rule that chose the quick profile's schedule: mean test accuracy (%) over seeds "
            f"{seeds} at E epochs and at 4E, the gap, the seed std at E, and whether each model passes (digits, "
            f"quick profile, KL '{study['kd_reduction'].iloc[0]}'; this notebook: {title})")
