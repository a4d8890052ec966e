"""Table 8 of the paper: quantization against knowledge distillation for compressing the student.

Every row is a model one could deploy: the float teacher and students (the run store's runs) and
int8 students made by PTQ or QAT (derived runs, ``greenkd_lib.methods.quantize``). :func:`rows` gathers
them for one seed; :func:`with_latency` times each model on this CPU; the columns of
:data:`TABLE8_COLUMNS` are the output contract.
"""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import datetime, timezone
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ..config.run import RunConfig
from ..data import published
from ..engine.quantized import converted_model, export_float, quantize, QuantizeSettings
from ..methods.quantize import int8_backend, latency_ms
from ..models import canonical_name
from ..runs.atomic import atomic_write_json
from .display import arm_style
from .lab import Lab

__all__ = ["TABLE8_COLUMNS", "ROWS", "rows", "with_latency", "claim_check", "LATENCY_BATCHES",
           "default_latency_batches", "settings_table", "headline", "compression_figure", "row_color", "caption",
           "figure_title", "figure_caption", "claim_caption"]

TABLE8_COLUMNS = ["method", "accuracy", "size_mb", "latency_ms", "gflops_millions", "energy_kwh", "co2_g"]
"""The table's first columns, in this order (the output contract)."""

LATENCY_BATCHES = (1, 64)  # latency_ms is the first; the second gets its own column

ROWS: tuple[tuple[str, str, str | None], ...] = (
    # (method as the table names it, the float run it starts from, quantization scheme or None)
    ("teacher fp32", "teacher", None),
    ("student from scratch fp32", "scratch", None),
    ("PTQ int8 (student from scratch)", "scratch", "ptq"),
    ("QAT int8 (student from scratch)", "scratch", "qat"),
    ("KD tuned fp32", "tuned", None),
    ("Ours fp32", "ours", None),
    ("Ours + PTQ int8", "ours", "ptq"),
    ("Ours + QAT int8", "ours", "qat"),
)
"""The table's rows: the issue's seven, and ours + QAT (both schemes applied to a KD student)."""

_COSTS = ("gflops_millions", "energy_kwh", "co2_g")


def _float_rows(lab: Lab, student: str, seed: int) -> dict[str, pd.Series]:
    teacher = lab.teacher(seeds=[lab.profile.seeds[0]]).iloc[0]
    return {"teacher": teacher, "scratch": lab.student_from_scratch(student, seeds=[seed]).iloc[0],
            "tuned": lab.tuned_kd(student=student, seeds=[seed]).iloc[0],
            "ours": lab.stochastic_kd(student=student, seeds=[seed]).iloc[0]}


def rows(lab: Lab, settings: QuantizeSettings, student: str | None = None, seed: int | None = None,
         allow_float_layers: bool = False) -> pd.DataFrame:
    """Table 8 without latency: accuracy, size of the saved model and cost to produce, per row of :data:`ROWS`.

    Accuracy is test accuracy (%) at the float run's best-validation epoch, or of the int8 model itself
    run on the test split; size is the ``torch.export`` program file of each model (float and int8
    alike); the cost of an int8 row includes its parent's (``cost_includes`` says what was summed), and
    tuned KD's is its whole grid's. Everything missing is trained or quantized first.
    """
    student = canonical_name(student or lab.profile.students[0])
    seed = lab.profile.seeds[0] if seed is None else int(seed)
    floats = _float_rows(lab, student, seed)
    out = []
    for method, source, scheme in ROWS:
        base = floats[source]
        parent = RunConfig.from_dict(lab.store.run_by_hash(base["hash"]).config)
        costs = {c: float(base[c]) for c in _COSTS}
        if scheme is None:
            made = export_float(parent, store=lab.store, data_root=lab.data_root)
            accuracy, includes, precision = float(base["test_acc"]), _float_cost_note(source, base), "fp32"
            accuracy_of, agreement = "the float model (best-validation epoch)", math.nan
        else:
            made = quantize(parent, scheme, store=lab.store, settings=settings, data_root=lab.data_root,
                            allow_float_layers=allow_float_layers)
            fp = made["footprint"]
            own = {"gflops_millions": made["flops"]["total"] / 1e15, "energy_kwh": fp["energy_kwh"], "co2_g": fp["co2_g"]}
            costs = {c: costs[c] + own[c] for c in _COSTS}
            accuracy, precision, accuracy_of = float(made["metrics"]["test_acc"]), "int8", made["metrics"]["accuracy_of"]
            agreement = float(made["metrics"]["agreement_with_float"])
            includes = f"{_float_cost_note(source, base)} + {scheme.upper()} ({_scheme_note(made, scheme)})"
        out.append({"method": method, "accuracy": accuracy, "size_mb": made["model"]["size_mb"],
                    "latency_ms": math.nan, **costs, "precision": precision, "model": base["student"],
                    "seed": seed if source != "teacher" else int(base["seed"]), "cost_includes": includes,
                    "agrees_with_float": agreement, "accuracy_of": accuracy_of, "float_run": base["hash"],
                    "model_run": made["hash"],
                    "float_layers": ", ".join(made.get("float_layers", [])) or "-"})
    return pd.DataFrame(out)


def _float_cost_note(source: str, base: pd.Series) -> str:
    if source == "tuned":
        return f"tuned KD's grid of {int(base['trainings'])} trainings"
    return {"teacher": "the teacher's training", "scratch": "the student's training",
            "ours": "ours' one training"}[source]


def _scheme_note(made: dict[str, Any], scheme: str) -> str:
    if scheme == "ptq":
        return f"calibration on {made['flops']['samples_seen']} training images and conversion"
    return f"{made['epochs']} epochs of fake-quantized fine-tuning and conversion"


def with_latency(table: pd.DataFrame, lab: Lab, repeats: int = 30,
                 batches: tuple[int, ...] = LATENCY_BATCHES) -> tuple[pd.DataFrame, str]:
    """``table`` with the CPU latency of every model (median of ``repeats`` timed passes after warm-up;
    ``latency_ms`` for the first of ``batches``, ``latency_ms_batch<b>`` for the others), each lowered by
    torch.compile as it would be deployed (the int8 ones to int8 kernels); and a note of how it was
    measured. Without an int8 backend the int8 rows' latency is NaN and the note gives the reason.

    A model's latencies are kept in the run store (``latency/<key>.json``), keyed by the model's run,
    the batch sizes, repeats, thread count, torch version and this machine's processor: a re-run on
    the same machine reads them back instead of compiling and timing again (the note says when they
    were measured)."""
    available, how = int8_backend()
    out = table.copy()
    size = lab.data().image_size
    timed = {b: [] for b in batches}
    measured_at = []
    for _, row in out.iterrows():
        cache = _latency_cache(lab, row, size, batches, repeats)
        known = _read_latency(cache)
        if known is None:
            if row["precision"] == "int8" and not available:
                model = None
            elif row["precision"] == "int8":
                model = converted_model(lab.store, row["model_run"], lab.data_root)
            else:
                model = lab.model(row["float_run"])
            known = {"ms": {str(b): math.nan if model is None else latency_ms(model, size, b, repeats=repeats,
                                                                             key=row["model_run"])
                            for b in batches},
                     "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
            if model is not None:
                atomic_write_json(cache, known)
        measured_at.append(known["measured_at"])
        for b in batches:
            timed[b].append(known["ms"][str(b)])
    out["latency_ms"] = timed[batches[0]]
    for b in batches[1:]:
        out[f"latency_ms_batch{b}"] = timed[b]
    when = min(measured_at) if measured_at else "now"
    note = (f"CPU latency per forward pass, median of {repeats} timed passes after warm-up, batch "
            f"{' and '.join(map(str, batches))} (latency_ms: batch {batches[0]}), {torch.get_num_threads()} "
            f"thread(s), every model lowered by torch.compile, on {_processor()}, measured from {when} "
            f"(UTC); int8: {how}" + ("" if available else "; int8 latency unavailable"))
    return out, note


def _processor() -> str:
    """This machine's processor model (Linux: /proc/cpuinfo), else what ``platform`` knows."""
    import platform

    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _latency_cache(lab: Lab, row: pd.Series, size: int, batches: tuple[int, ...], repeats: int):
    from ..runs.hashing import config_hash

    key = config_hash({"model_run": row["model_run"], "precision": row["precision"], "image_size": int(size),
                       "batches": [int(b) for b in batches], "repeats": int(repeats),
                       "threads": torch.get_num_threads(), "torch": torch.__version__, "cpu": _processor()})
    return lab.store.root / "latency" / f"{key}.json"


def _read_latency(path) -> dict[str, Any] | None:
    """A stored measurement, or None when there is none or it is unreadable (then it is measured again)."""
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
        return known if isinstance(known.get("ms"), dict) and "measured_at" in known else None
    except (OSError, ValueError, AttributeError):
        return None


def claim_check(table: pd.DataFrame) -> pd.DataFrame:
    """The caption's claim ("ours is best in both accuracy and carbon footprint") row by row: which
    row has the highest accuracy, the lowest CO2 to produce, the smallest file and the fastest pass."""
    checks = [("highest accuracy", "accuracy", True), ("lowest CO2 to produce", "co2_g", False),
              ("smallest file", "size_mb", False), ("fastest pass (batch 1)", "latency_ms", False)]
    out = []
    students = table[table["method"] != "teacher fp32"]
    for what, col, high in checks:
        values = pd.to_numeric(students[col], errors="coerce")
        if values.notna().any():
            best = students.loc[values.idxmax() if high else values.idxmin()]
            out.append({"criterion": what, "best row (students)": best["method"], "value": best[col],
                        "ours fp32": float(students.loc[students["method"] == "Ours fp32", col].iloc[0])})
        else:
            out.append({"criterion": what, "best row (students)": "unavailable", "value": math.nan,
                        "ours fp32": math.nan})
    return pd.DataFrame(out)


def default_latency_batches(profile_name: str) -> tuple[int, ...]:
    """Batch 1 and 64; the smoke profile times batch 1 only (each batch size is one more compilation)."""
    return (1,) if profile_name == "smoke" else LATENCY_BATCHES


def settings_table(settings: QuantizeSettings, backend: tuple[bool, str]) -> pd.DataFrame:
    """The quantization settings and the int8 backend, one row per setting."""
    rows = [{"setting": k, "value": v} for k, v in dataclasses.asdict(settings).items()]
    rows += [{"setting": "quantizer", "value": "torchao PT2E, X86InductorQuantizer (int8 per-channel weights, "
                                               "int8 per-tensor activations)"},
             {"setting": "int8 backend", "value": backend[1]}]
    return pd.DataFrame(rows)


def _row(table: pd.DataFrame, method: str) -> pd.Series:
    return table.loc[table["method"] == method].iloc[0]


def headline(table: pd.DataFrame) -> str:
    """What the numbers say, in sentences built from ``table`` (with latency)."""
    ours, tuned, scratch = _row(table, "Ours fp32"), _row(table, "KD tuned fp32"), _row(table, "student from scratch fp32")
    ptq, qat = _row(table, "Ours + PTQ int8"), _row(table, "Ours + QAT int8")
    lines = [
        f"Accuracy: ours {ours['accuracy']:.2f} %, KD tuned {tuned['accuracy']:.2f} %, the student from scratch "
        f"{scratch['accuracy']:.2f} %; int8 by PTQ {_row(table, 'PTQ int8 (student from scratch)')['accuracy']:.2f} % "
        f"and by QAT {_row(table, 'QAT int8 (student from scratch)')['accuracy']:.2f} %; ours + PTQ "
        f"{ptq['accuracy']:.2f} %, ours + QAT {qat['accuracy']:.2f} %.",
        f"Agreement: the int8 models predict what their float parents predict on {table['agrees_with_float'].min():.1f} "
        f"to {table['agrees_with_float'].max():.1f} % of the test images." if "agrees_with_float" in table else "",
        f"Size: int8 files are {ptq['size_mb']:.2f} MB against {ours['size_mb']:.2f} MB in float "
        f"({ours['size_mb'] / ptq['size_mb']:.1f}x smaller).",
    ]
    if not math.isnan(ptq["latency_ms"]):
        line = (f"Latency (batch 1): ours {ours['latency_ms']:.2f} ms in float, {ptq['latency_ms']:.2f} ms in int8")
        big = [c for c in table.columns if c.startswith("latency_ms_batch")]
        if big:
            line += (f"; at batch {big[0].removeprefix('latency_ms_batch')}: {ours[big[0]]:.2f} against "
                     f"{ptq[big[0]]:.2f} ms")
        lines.append(line + ".")
    else:
        lines.append("Latency of the int8 models: unavailable on this machine (see the table's note).")
    lines.append(
        f"CO2 to produce: ours {ours['co2_g']:.3g} g, KD tuned {tuned['co2_g']:.3g} g ({tuned['co2_g'] / ours['co2_g']:.1f}x); "
        f"PTQ adds {100 * (ptq['co2_g'] / ours['co2_g'] - 1):.0f} % to ours, QAT {100 * (qat['co2_g'] / ours['co2_g'] - 1):.0f} %.")
    claim = claim_check(table).set_index("criterion")
    verdict = ("holds" if claim.loc["highest accuracy", "best row (students)"].startswith("Ours")
               and claim.loc["lowest CO2 to produce", "best row (students)"].startswith("Ours") else "does not hold")
    lines.append(f"The caption's claim (ours best in both accuracy and carbon footprint) {verdict} here: the highest "
                 f"accuracy is {claim.loc['highest accuracy', 'best row (students)']}'s, the lowest CO2 to produce "
                 f"{claim.loc['lowest CO2 to produce', 'best row (students)']}'s.")
    return "\n".join(line for line in lines if line)



# Table 8's figure: per compressed model, accuracy beside its size, latency and the CO2 of producing it.
_PANELS = (("accuracy", "test accuracy (%)"), ("size_mb", "model file (MB)"),
           ("latency_ms", "CPU latency, batch 1 (ms)"), ("co2_g", "CO2 to produce (g)"))


def row_color(method: str) -> str:
    """The arms' colours: teacher dark grey, student from scratch light grey, KD tuned red, ours green."""
    if method.startswith("teacher"):
        return arm_style("teacher")["color"]
    if method.startswith("KD tuned"):
        return arm_style("kd-tuned")["color"]
    if method.startswith("Ours"):
        return arm_style("ours")["color"]
    return arm_style("scratch")["color"]


def compression_figure(table: pd.DataFrame) -> plt.Figure:
    """One horizontal bar per row of Table 8 in each of four panels (accuracy, size, latency, CO2); int8
    rows hatched; a latency that could not be measured is written as such."""
    fig, axes = plt.subplots(1, len(_PANELS), figsize=(15, 0.9 + 0.42 * len(table)), sharey=True)
    y = np.arange(len(table))
    colors = [row_color(m) for m in table["method"]]
    hatches = ["//" if p == "int8" else "" for p in table["precision"]]
    for ax, (col, label) in zip(axes, _PANELS):
        values = pd.to_numeric(table[col], errors="coerce")
        bars = ax.barh(y, values.fillna(0), color=colors, edgecolor="white")
        for bar, hatch in zip(bars, hatches):
            bar.set_hatch(hatch)
        for yi, v in zip(y, values):
            text = "unavailable" if math.isnan(v) else (f"{v:.1f}" if col == "accuracy" else f"{v:.3g}")
            ax.annotate(text, (0 if math.isnan(v) else v, yi), xytext=(3, 0), textcoords="offset points",
                        va="center", fontsize=7)
        ax.set_xlabel(label, fontsize=9)
        ax.margins(x=0.22)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, table["method"], fontsize=8)
    axes[0].invert_yaxis()
    return fig


# -- captions (every number from the run) -----------------------------------------------------------


def caption(table: pd.DataFrame, latency_note: str, title: str) -> str:
    """Table 8's caption (:func:`with_latency`'s table and note): the model compressed, its seed, each column."""
    return (f"Table 8 ({title}): compressing {table['model'].iloc[1]}, one row per method, seed "
            f"{table['seed'].iloc[1]}; accuracy = test accuracy (%) of the model itself (int8 rows: the int8 model); "
            f"size_mb = its saved torch.export file; {latency_note}; costs to produce: tuned KD = its grid, int8 "
            f"rows = parent + quantization (column cost_includes); paper values: {published.NOT_PUBLISHED}")


def figure_title(title: str) -> str:
    """The title of :func:`compression_figure`."""
    return f"Table 8: accuracy against size, latency and the CO2 of producing each model ({title})"


def figure_caption(batch: int, title: str) -> str:
    """The caption of :func:`compression_figure`, its latency at ``batch`` images."""
    return (f"Per model of Table 8: test accuracy, saved file size, CPU latency at batch {batch} and CO2 to produce "
            f"(parents included), int8 hatched ({title})")


def claim_caption(title: str) -> str:
    """The caption of :func:`claim_check`'s table."""
    return (f"The caption's claim, criterion by criterion, among the students ({title}); paper values: "
            f"{published.NOT_PUBLISHED}")
