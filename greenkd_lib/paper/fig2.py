"""Fig 2: the teacher-training and student-training block diagrams, drawn with matplotlib, and the
diagram's quantities on one real batch (logits, softmaxes, soft outputs, the two loss terms)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.patches import FancyBboxPatch

__all__ = ["kd_diagrams", "TRAINABLE", "FROZEN", "PairBatch", "pair_batch", "check_taus", "shown_classes",
           "quantities", "quantity_table", "loss_terms", "soft_outputs_figure", "diagrams_title",
           "diagrams_caption", "values_caption", "soft_outputs_caption", "loss_terms_caption"]

TRAINABLE = "#b7e4b0"  # green, as in the paper's figure
FROZEN = "#f4b6b6"  # red
NEUTRAL = "#e8eef7"
LOSS = "#fde8b0"


def _box(ax, x: float, y: float, text: str, color: str, w: float = 1.5, h: float = 0.7) -> tuple[float, float, float, float]:
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.05,rounding_size=0.12",
                                fc=color, ec="#333333", lw=1.2))
    ax.text(x, y, text, ha="center", va="center", fontsize=9.5, wrap=True)
    return x, y, w, h


def _arrow(ax, a, b, label: str = "", offset: float = 0.18) -> None:
    (xa, ya, wa, ha), (xb, yb, wb, hb) = a, b
    if abs(ya - yb) < 1e-6:  # horizontal
        start, end = (xa + wa / 2, ya), (xb - wb / 2, yb)
    elif abs(xa - xb) < 1e-6:  # vertical
        sign = 1 if yb > ya else -1
        start, end = (xa, ya + sign * ha / 2), (xb, yb - sign * hb / 2)
    else:
        start, end = (xa + wa / 2, ya), (xb - wb / 2, yb)
    ax.annotate("", xy=end, xytext=start, arrowprops=dict(arrowstyle="-|>", lw=1.3, color="#333333"))
    if label:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + offset, label, ha="center", va="bottom",
                fontsize=9, style="italic")


def kd_diagrams(alpha: float = 0.95, tau_text: str = r"$\tau$") -> plt.Figure:
    """(a) teacher training with cross-entropy; (b) student training from a frozen teacher.

    The loss in (b) is ``(1 - alpha) CE(h_s, y) + alpha tau^2 KL(o_t || o_s)``; ``tau_text`` lets the
    caller say how tau is chosen (a tuned constant, or a fresh random draw per batch).
    """
    fig, (ax_a, ax_b) = plt.subplots(2, 1, figsize=(11, 7.2), gridspec_kw={"height_ratios": [1, 1.9]})
    for ax in (ax_a, ax_b):
        ax.set_xlim(0, 12)
        ax.axis("off")

    ax_a.set_ylim(0, 2)
    ax_a.set_title("(a) Teacher training", loc="left", fontsize=11, fontweight="bold")
    x = _box(ax_a, 1.0, 1, "input X", NEUTRAL, w=1.2)
    t = _box(ax_a, 3.6, 1, "Teacher $f_t$\n(trainable)", TRAINABLE, w=1.8)
    s = _box(ax_a, 6.4, 1, "softmax", NEUTRAL, w=1.3)
    ce = _box(ax_a, 9.2, 1, "CE loss\n$\\mathcal{L}_{CE}(h_m, y)$", LOSS, w=2.0, h=0.8)
    _arrow(ax_a, x, t)
    _arrow(ax_a, t, s, "logits")
    _arrow(ax_a, s, ce, "$h_m$")
    ax_a.text(11.1, 1, "label y", ha="center", va="center", fontsize=9)
    ax_a.annotate("", xy=(10.2, 1), xytext=(10.75, 1), arrowprops=dict(arrowstyle="-|>", lw=1.1))

    ax_b.set_ylim(0, 4.2)
    ax_b.set_title("(b) Student training by knowledge distillation", loc="left", fontsize=11, fontweight="bold")
    x = _box(ax_b, 1.0, 2.1, "input X", NEUTRAL, w=1.2)
    teacher = _box(ax_b, 3.4, 3.4, "Teacher $f_t$\n(frozen)", FROZEN, w=1.8)
    student = _box(ax_b, 3.4, 0.9, "Student $f_s$\n(trainable)", TRAINABLE, w=1.8)
    soft_t = _box(ax_b, 6.3, 3.4, f"softmax( $a_t$ / {tau_text} )", NEUTRAL, w=2.2)
    soft_s = _box(ax_b, 6.3, 2.1, f"softmax( $a_s$ / {tau_text} )", NEUTRAL, w=2.2)
    hard_s = _box(ax_b, 6.3, 0.6, "softmax( $a_s$ )", NEUTRAL, w=2.2)
    kl = _box(ax_b, 9.3, 2.75, "KL loss\n$\\mathcal{L}_{KL}(o_t \\,\\|\\, o_s)$", LOSS, w=2.1, h=0.9)
    ce = _box(ax_b, 9.3, 0.6, "CE loss\n$\\mathcal{L}_{CE}(h_s, y)$", LOSS, w=2.1, h=0.8)
    for target in (teacher, student):
        ax_b.annotate("", xy=(target[0] - target[2] / 2, target[1]), xytext=(x[0] + x[2] / 2, x[1]),
                      arrowprops=dict(arrowstyle="-|>", lw=1.3, color="#333333"))
    _arrow(ax_b, teacher, soft_t, "$a_t$")
    ax_b.annotate("", xy=(soft_s[0] - soft_s[2] / 2, soft_s[1]), xytext=(student[0] + student[2] / 2, student[1] + 0.1),
                  arrowprops=dict(arrowstyle="-|>", lw=1.3, color="#333333"))
    ax_b.annotate("", xy=(hard_s[0] - hard_s[2] / 2, hard_s[1]), xytext=(student[0] + student[2] / 2, student[1] - 0.1),
                  arrowprops=dict(arrowstyle="-|>", lw=1.3, color="#333333"))
    ax_b.text(4.75, 1.75, "$a_s$", fontsize=9, style="italic")
    for src, label in ((soft_t, "$o_t$"), (soft_s, "$o_s$")):
        ax_b.annotate("", xy=(kl[0] - kl[2] / 2, kl[1]), xytext=(src[0] + src[2] / 2, src[1]),
                      arrowprops=dict(arrowstyle="-|>", lw=1.3, color="#333333"))
        ax_b.text(src[0] + src[2] / 2 + 0.25, (src[1] + kl[1]) / 2 + 0.12, label, fontsize=9, style="italic")
    _arrow(ax_b, hard_s, ce, "$h_s$")
    ax_b.text(11.0, 1.9, f"total loss =\n$(1-\\alpha)\\,\\mathcal{{L}}_{{CE}}$\n$+\\ \\alpha\\,${tau_text}$^2\\,\\mathcal{{L}}_{{KL}}$\n"
              f"($\\alpha$ = {alpha:g})", ha="center", va="center", fontsize=9.5,
              bbox=dict(boxstyle="round", fc="white", ec="#999999"))
    ax_b.text(6.3, 4.05, "no gradient flows into the frozen teacher", ha="center", fontsize=8.5, color="#a33")
    handles = [FancyBboxPatch((0, 0), 1, 1, fc=c, ec="#333") for c in (TRAINABLE, FROZEN, LOSS)]
    ax_b.legend(handles, ["trainable", "frozen", "loss"], loc="lower left", fontsize=8.5, frameon=False,
                bbox_to_anchor=(0.0, -0.06), ncol=3)
    fig.tight_layout()
    return fig


@dataclass
class PairBatch:
    """One training batch through a trained teacher and its stochastic-tau student (Fig 2b made concrete)."""

    teacher_run: pd.Series  # the Lab row of the teacher run
    student_run: pd.Series  # the Lab row of the student run
    bundle: Any  # the data set bundle the runs use
    x: torch.Tensor  # the images, as the models see them
    y: torch.Tensor  # their labels
    a_m: torch.Tensor  # teacher logits (CPU, float32)
    a_s: torch.Tensor  # student logits


def pair_batch(lab: Any, student: str, batch_images: int, device: torch.device) -> PairBatch:
    """The first ``batch_images`` training images (unshuffled) through the first seed's teacher and the stochastic-tau
    ``student`` it taught, both read back from the run store (trained first if missing) and in evaluation mode."""
    from torch.utils.data import DataLoader

    if isinstance(batch_images, bool) or not isinstance(batch_images, int) or batch_images < 1:
        raise ValueError(f"batch_images must be a positive integer, got {batch_images!r}")
    seed = lab.profile.seeds[0]
    teacher_run = lab.teacher(seeds=[seed]).iloc[0]
    student_run = lab.stochastic_kd(student=student, seeds=[seed]).iloc[0]
    teacher, learner = lab.model(teacher_run["hash"], device=device), lab.model(student_run["hash"], device=device)
    bundle = lab.data()
    x, y = next(iter(DataLoader(bundle.train, batch_size=batch_images, shuffle=False)))
    with torch.no_grad():
        a_m, a_s = teacher(x.to(device)).float().cpu(), learner(x.to(device)).float().cpu()
    return PairBatch(teacher_run, student_run, bundle, x, y, a_m, a_s)


def check_taus(taus: Iterable[float] | None, low: float, high: float) -> list[float]:
    """The two temperatures to compare: ``taus``, or the ends ``low`` and ``high`` of the stochastic range."""
    taus = [float(t) for t in ((low, high) if taus is None else taus)]
    if len(taus) != 2:
        raise ValueError(f"taus must hold two temperatures, e.g. [1, 4], or None; got {taus!r}")
    return taus


def shown_classes(logits: torch.Tensor, num_classes: int, most: int = 10) -> torch.Tensor:
    """Class indices to show for one image: all of them, or (more than ``most``) the ``most`` largest ``logits``
    in class order."""
    if num_classes <= most:
        return torch.arange(num_classes)
    return torch.sort(torch.topk(logits, most).indices).values


def quantities(a_m: torch.Tensor, a_s: torch.Tensor, taus: Sequence[float]) -> dict[str, torch.Tensor]:
    """Every quantity of the diagram for one image: the logits ``a_m`` and ``a_s``, their softmaxes ``h_m`` and
    ``h_s`` and, at each tau, the soft outputs ``o_m`` and ``o_s``; name -> one value per class."""
    out = {"a_m (teacher logits)": a_m, "a_s (student logits)": a_s,
           "h_m = softmax(a_m)": torch.softmax(a_m, 0), "h_s = softmax(a_s)": torch.softmax(a_s, 0)}
    for t in taus:
        out[f"o_m = softmax(a_m / {t:g})"] = torch.softmax(a_m / t, 0)
        out[f"o_s = softmax(a_s / {t:g})"] = torch.softmax(a_s / t, 0)
    return out


def quantity_table(values: dict[str, torch.Tensor], shown: torch.Tensor, classes: Sequence[str]) -> pd.DataFrame:
    """:func:`quantities` as a table: one row per quantity (index ``quantity``), one column per shown class."""
    table = pd.DataFrame({name: v[shown].numpy() for name, v in values.items()},
                         index=[classes[i] for i in shown]).T
    table.index.name = "quantity"
    return table


def loss_terms(a_s: torch.Tensor, a_m: torch.Tensor, y: torch.Tensor, temperatures: Sequence[tuple[str, float]],
               alpha: float, reduction: str) -> pd.DataFrame:
    """For each ``(label, tau)``: ``kd_loss`` with ``alpha=0`` (the CE term alone), ``alpha=1`` (the tau^2 KL term
    alone) and the profile's ``alpha``, which must be their linear mix."""
    from ..methods import kd_loss

    rows = []
    for label, t in temperatures:
        ce = kd_loss(a_s, a_m, y, t, alpha=0.0, reduction=reduction).item()
        kd = kd_loss(a_s, a_m, y, t, alpha=1.0, reduction=reduction).item()
        total = kd_loss(a_s, a_m, y, t, alpha=alpha, reduction=reduction).item()
        if not np.isclose(total, (1 - alpha) * ce + alpha * kd, rtol=1e-4):
            raise AssertionError(f"kd_loss should mix its two terms linearly: {total} != (1-{alpha}) {ce} + {alpha} {kd}")
        rows.append({"temperature": label, "tau": t, "CE(h_s, y) [alpha=0]": ce,
                     "tau^2 KL(o_m || o_s) [alpha=1]": kd, f"total [alpha={alpha:g}]": total})
    return pd.DataFrame(rows)


# -- figure: one input image and the soft outputs of teacher and student at two temperatures ---------


def soft_outputs_figure(image: np.ndarray, label: str, values: Mapping[str, torch.Tensor], shown: torch.Tensor,
                        names: Sequence[str], taus: Sequence[float]) -> plt.Figure:
    """The input image (H x W x 3, for display), then per tau the teacher's ``o_m`` (red) beside the student's ``o_s``
    (green) over the ``shown`` classes; ``values`` from :func:`greenkd_lib.paper.fig2.quantities`."""
    fig = plt.figure(figsize=(13, 3.6))
    grid = fig.add_gridspec(1, 1 + len(taus), width_ratios=[0.7] + [2] * len(taus))
    ax = fig.add_subplot(grid[0])
    ax.imshow(image, interpolation="nearest")
    ax.set_title(f"input X (label {label})", fontsize=9)
    ax.axis("off")
    pos = np.arange(len(names))
    short = max(map(len, names)) <= 3  # digits' "0".."9" fit upright; longer class names are slanted
    for k, t in enumerate(taus):
        ax = fig.add_subplot(grid[k + 1])
        # Red: the frozen teacher, green: the trainable student, as in the diagrams.
        ax.bar(pos - 0.2, values[f"o_m = softmax(a_m / {t:g})"][shown], 0.4, color="tab:red", label="o_m (teacher)")
        ax.bar(pos + 0.2, values[f"o_s = softmax(a_s / {t:g})"][shown], 0.4, color="tab:green", label="o_s (student)")
        ax.set_xticks(pos, names, rotation=0 if short else 45, ha="center" if short else "right", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("probability")
        ax.set_title(f"tau = {t:g}", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    return fig


# -- captions (every number from the run) -----------------------------------------------------------


def diagrams_title(title: str) -> str:
    """The title of :func:`kd_diagrams` in a notebook: whose alpha it draws."""
    return f"Fig 2: training the teacher (a) and the student by KD (b) (alpha from the {title})"


def diagrams_caption(alpha: float, title: str) -> str:
    """The caption of :func:`kd_diagrams`."""
    return (f"Block diagrams of teacher training and KD student training, alpha = {alpha:g} ({title}; the "
            "paper's figure has no numbers)")


def values_caption(class_name: str, taus: Sequence[float], title: str) -> str:
    """The caption of :func:`quantity_table` for one image of class ``class_name``."""
    return (f"Fig 2 made concrete: logits and softmax outputs of the teacher and the student for one training image "
            f"of class {class_name} at tau = {taus[0]:g} and {taus[1]:g} ({title})")


def soft_outputs_caption(taus: Sequence[float], title: str) -> str:
    """The caption of :func:`soft_outputs_figure`."""
    return (f"Soft outputs o_m (teacher) and o_s (student) of one training image at tau = {taus[0]:g} and "
            f"{taus[1]:g} ({title})")


def loss_terms_caption(images: int, reduction: str, title: str) -> str:
    """The caption of :func:`loss_terms` on a batch of ``images``."""
    return (f"The two loss terms of Fig 2b on one batch of {images} training images, KL reduction '{reduction}' "
            f"({title})")
