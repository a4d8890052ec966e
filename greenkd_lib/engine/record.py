"""A run's record, written in one place: its history rows, the counts and best epoch kept across
epochs (and checkpoints), and the result the run store writes when the run finishes.

Every loop (classification, data-free, detection) fills the same record, so a history column or a
result key means the same thing for every run; a loop adds only its own named fields to the result
(:meth:`RunRecord.result`'s keyword arguments).
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch

from .. import models
from ..carbon import Footprint, to_gflops_millions
from ..config.run import RunConfig
from .configs import run_label

__all__ = ["RunRecord", "tau_columns"]


class RunRecord:
    """What a run has done so far. ``state`` is the dict a checkpoint stores (its keys are part of the
    checkpoint format: ``runs.recovery`` reads them too)."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state

    @classmethod
    def fresh(cls, cfg: RunConfig) -> "RunRecord":
        """The record of a run that has not trained an epoch yet."""
        return cls({"epoch": 0, "history": [], "best_val_acc": -1.0, "best_epoch": 0,
                    "test_at_best_val": float("nan"), "samples_seen": 0, "eval_samples": 0,
                    "footprint": Footprint.zero(cfg.carbon.carbon_intensity)})

    @classmethod
    def restored(cls, saved: dict[str, Any]) -> "RunRecord":
        """The record of a checkpoint's ``state`` (as :meth:`saved` wrote it)."""
        saved["footprint"] = Footprint.from_dict(saved["footprint"])
        return cls(saved)

    def saved(self) -> dict[str, Any]:
        """The state as a checkpoint stores it (plain values only)."""
        saved = dict(self.state)
        saved["footprint"] = self.state["footprint"].to_dict()
        return saved

    @property
    def epoch(self) -> int:
        """Epochs done (checkpointed)."""
        return self.state["epoch"]

    @property
    def footprint(self) -> Footprint:
        return self.state["footprint"]

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.state["history"]

    def add_lost(self, lost: Footprint) -> None:
        """Count the energy of work a killed process did after the last checkpoint (done again now)."""
        self.state["footprint"] = self.state["footprint"] + lost
        before = self.state.get("lost_partial_epochs")
        self.state["lost_partial_epochs"] = (lost if before is None else Footprint.from_dict(before) + lost).to_dict()

    def count(self, seen: int, eval_samples: int) -> tuple[int, int]:
        """Add an epoch's trained and evaluated samples; the run's totals so far (for its FLOPs)."""
        self.state["samples_seen"] += seen
        self.state["eval_samples"] += eval_samples
        return self.state["samples_seen"], self.state["eval_samples"]

    def row(self, epoch: int, totals: tuple[float, Mapping[str, float], int], *, val: float, test: float,
            lr: float, taus: list[float], footprint: Footprint, flops: int,
            extra_columns: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The history row of epoch ``epoch`` (0-based); ``totals``: ``EpochLosses.totals()``."""
        loss_sum, term_sums, seen = totals
        return {
            "epoch": epoch + 1,
            "train_loss": loss_sum / max(seen, 1),
            **{f"loss_{name}": total / max(seen, 1) for name, total in term_sums.items()},
            "val_acc": val,
            "test_acc": test,
            "lr": lr,
            **tau_columns(taus),
            "wall_s": footprint.duration_s,
            "energy_kwh": footprint.energy_kwh,
            "co2_g": footprint.co2_g,
            "flops": flops,
            **(extra_columns or {}),
        }

    def add_epoch(self, row: dict[str, Any], footprint: Footprint) -> bool:
        """Append ``row`` to the history; whether its validation score is the best so far."""
        epoch = row["epoch"]
        self.state["history"].append(row)
        best = row["val_acc"] > self.state["best_val_acc"]
        if best:
            self.state.update(best_val_acc=row["val_acc"], best_epoch=epoch, test_at_best_val=row["test_acc"])
        self.state.update(epoch=epoch, footprint=footprint)
        return best

    def tested_at_end(self, best: float, final: float) -> None:
        """The test scores of a run whose epochs never read the test split (data-free): of the
        best-validation weights and of the final ones, each evaluated once after training."""
        self.state.update(test_at_best_val=best, tested_at_end={"best": best, "final": final})

    def result(self, cfg: RunConfig, bundle, model: torch.nn.Module, dev: torch.device, *, student_flops: int,
               teacher_flops: int, flops_per_sample: int, synthesis_flops: int | None = None,
               task: str | None = None, metric: str | None = None, normalization: tuple | None = None,
               arch: Any = None, metrics_at_best: Mapping[str, str] | None = None,
               backbone: str | None = None) -> dict[str, Any]:
        """The finished run's result. The footprint is the one at the last checkpoint, so that a resumed
        run is the sum of its parts.

        A loop's own fields: ``synthesis_flops`` (data-free: a synthesizer's generator and teacher
        passes), ``task``/``metric`` (detection: the score stored as ``*_acc`` is ``metric``),
        ``normalization`` (the (mean, std) a detector's model normalises with) and ``arch``;
        ``metrics_at_best``: history column -> metric name, the best-validation epoch's value of each
        (detection: the all-point mAP); ``backbone``: how a detector's backbone started (random or
        which ImageNet weights).
        """
        state = self.state
        history = state["history"]
        footprint = state["footprint"]
        once = state.get("tested_at_end")
        if once is not None:  # no epoch read the test split: no best-over-epochs test score either
            best_test = {"test_acc": once["best"], "epoch": state["best_epoch"]}
        else:
            best_test = max(history, key=lambda r: r["test_acc"]) if history else None
        total_flops = history[-1]["flops"] if history else 0
        train_s = footprint.duration_s
        result = {
            "label": run_label(cfg),
            "metrics": {
                "test_acc": state["test_at_best_val"],  # test accuracy at the best-validation epoch
                "best_val_acc": state["best_val_acc"],
                "best_epoch": state["best_epoch"],
                # The paper's convention (the best epoch by test); a run tested once: its best-validation epoch's.
                "best_test_acc": best_test["test_acc"] if best_test else float("nan"),
                "best_test_epoch": best_test["epoch"] if best_test else 0,
                "final_test_acc": (once["final"] if once is not None else
                                   history[-1]["test_acc"] if history else float("nan")),
                "final_val_acc": history[-1]["val_acc"] if history else float("nan"),
                "images_per_s": state["samples_seen"] / train_s if train_s > 0 else float("nan"),
            },
            # Included in footprint: the energy of epochs killed part-way and trained again (None if none).
            "lost_partial_epochs": state.get("lost_partial_epochs"),
            "footprint": footprint.to_dict(),
            "method": cfg.method,
            "flops": {"total": int(total_flops), "pflops": total_flops / 1e15,
                      "gflops_millions": to_gflops_millions(total_flops),
                      "student_forward": int(student_flops), "teacher_forward": int(teacher_flops),
                      "train_per_sample": int(flops_per_sample),
                      "samples_seen": state["samples_seen"], "eval_samples": state["eval_samples"],
                      **({"synthesis": int(synthesis_flops)} if synthesis_flops is not None else {})},
            "epochs": state["epoch"],
            "model": {"name": cfg.model, "num_classes": bundle.num_classes, "image_size": bundle.image_size,
                      "parameters": models.count_parameters(model),
                      **({"arch": arch} if arch is not None else {})},
            # A detector is rebuilt with its normalisation (detection's load_detector reads it here).
            "data": {**bundle.summary(), **({"mean": list(normalization[0]), "std": list(normalization[1])}
                                            if normalization is not None else {})},
            "device": str(dev),
            "precision": cfg.precision,
            "channels_last": cfg.channels_last,
            "torch_threads": torch.get_num_threads(),
        }
        at_best = next((r for r in history if r["epoch"] == state["best_epoch"]), None)
        for column, name in (metrics_at_best or {}).items():
            result["metrics"][name] = at_best.get(column, float("nan")) if at_best else float("nan")
        if task is not None:
            result.update(task=task, metric=metric)
        if backbone is not None:
            result["model"]["backbone"] = backbone
        if once is not None:
            result["test_read"] = "once, after training (selection on the validation split only)"
        return result


def tau_columns(taus: list[float]) -> dict[str, float | int]:
    """An epoch's history columns for the taus it drew (NaN and 0 for a method without tau)."""
    return {"tau_mean": float(np.mean(taus)) if taus else float("nan"),
            "tau_min": float(np.min(taus)) if taus else float("nan"),
            "tau_max": float(np.max(taus)) if taus else float("nan"),
            "tau_distinct": len(set(np.round(taus, 6))) if taus else 0}
