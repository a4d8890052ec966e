"""The tidy rows of :class:`~greenkd_lib.paper.lab.Lab`'s experiments and the arithmetic on them.

:func:`row` turns one finished run into one row (the arm, the models, the accuracies and the costs);
:func:`tune` keeps, per seed, the grid's best tau on validation and charges it the whole grid;
:func:`summarize` averages over seeds; :func:`caption_scope` is what a caption over several labs names.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import pandas as pd

from ..carbon import to_gflops_millions
from ..config.run import RunConfig
from ..methods import policy_from_config

__all__ = ["COST_COLUMNS", "row", "tune", "summarize", "caption_scope"]

COST_COLUMNS = ["energy_kwh", "co2_g", "wall_s", "pflops", "gflops_millions"]


def row(cfg: RunConfig, result: dict[str, Any], run_hash: str, extra: dict[str, Any]) -> dict[str, Any]:
    """One finished run as a row; ``extra`` gives the arm (``method``) and a fixed ``tau``."""
    fp, metrics = result["footprint"], result["metrics"]
    energy, co2 = fp.get("energy_kwh"), fp.get("co2_g")
    return {
        "method": extra.get("method"),  # the arm: teacher, scratch, kd (fixed tau), kd-tuned, ours
        "objective": cfg.method,  # the registered distillation method: ce, kd, cmc, dml
        "dataset": cfg.dataset,
        "profile": cfg.profile,
        # DML learns from a peer, not a pre-trained teacher: the peer takes the teacher's column.
        "teacher": cfg.teacher.model if cfg.teacher else (cfg.method_params or {}).get("peer"),
        "student": cfg.model,
        "seed": cfg.seed,
        "tau": extra.get("tau", np.nan),
        "temperature": policy_from_config(cfg.temperature).label() if cfg.temperature else "",
        "batch_size": cfg.batch_size,
        "kd_reduction": cfg.kd_reduction if cfg.temperature else "",  # the KL's reduction, for a run with a tau
        "test_acc": metrics["test_acc"],
        "best_test_acc": metrics["best_test_acc"],
        "best_val_acc": metrics["best_val_acc"],
        # Detection: VOC2010's all-point mAP at the best-validation epoch (the score is VOC07's 11-point).
        "test_map_all_point": metrics.get("test_map_all_point", np.nan),
        "energy_kwh": np.nan if energy is None else energy,
        "co2_g": np.nan if co2 is None else co2,
        "wall_s": fp["duration_s"],
        "pflops": result["flops"]["pflops"],
        "gflops_millions": to_gflops_millions(result["flops"]["total"]),
        "trainings": 1,
        "mode": fp.get("mode"),
        "carbon_intensity": fp.get("carbon_intensity"),
        # The machine's load beside the run (energy is the run's own process's either way).
        "machine_load": fp.get("machine_load"),
        "other_load": fp.get("other_load"),
        "sibling_load": fp.get("sibling_load"),
        "disturbed": fp.get("disturbed"),
        "hash": run_hash,
    }


def tune(grid_rows: pd.DataFrame) -> pd.DataFrame:
    """Per seed, keep the tau with the best validation accuracy and charge the sum of the grid's costs."""
    out = []
    by = ["objective", "seed"] if "objective" in grid_rows else ["seed"]
    for _, group in grid_rows.groupby(by, sort=True):
        best = group.loc[group["best_val_acc"].idxmax()].copy()
        for col in COST_COLUMNS:
            best[col] = group[col].sum(min_count=len(group))  # NaN if any part is unavailable
        for col in ("machine_load", "other_load", "sibling_load"):
            if col in group:  # duration-weighted, like a resumed run's parts
                loads = pd.to_numeric(group[col], errors="coerce")
                known = loads.notna() & (group["wall_s"] > 0)
                best[col] = (float((loads[known] * group["wall_s"][known]).sum() / group["wall_s"][known].sum())
                             if known.any() else np.nan)
        if "disturbed" in group:
            best["disturbed"] = bool(group["disturbed"].fillna(False).astype(bool).any())
        best["trainings"] = len(group)
        best["method"] = "kd-tuned"
        best["temperature"] = f"tuned tau={best['tau']:g} (grid of {len(group)})"
        out.append(best)
    return pd.DataFrame(out).reset_index(drop=True)


def caption_scope(labs: Iterable[Any]) -> str:
    """What a caption over several :class:`~greenkd_lib.paper.lab.Lab` s names: their data sets, the profile and the KL reduction."""
    labs = list(labs)
    return f"{', '.join(l.dataset for l in labs)}, {labs[0].profile.name} profile, KL '{labs[0].profile.kd_reduction}'"


def summarize(rows: pd.DataFrame, by: Iterable[str] = ("method", "teacher", "student"),
              metric: str = "test_acc") -> pd.DataFrame:
    """Mean and std over seeds of the accuracy, mean of each cost, per group."""
    by = [c for c in by if c in rows.columns]
    grouped = rows.groupby(by, sort=False, dropna=False)
    out = grouped[metric].agg(["mean", "std", "count"]).rename(
        columns={"mean": f"{metric}_mean", "std": f"{metric}_std", "count": "seeds"})
    out["best_test_acc_mean"] = grouped["best_test_acc"].mean()
    for col in COST_COLUMNS:
        out[col] = grouped[col].mean()
    out["mode"] = grouped["mode"].first()
    return out.reset_index()
