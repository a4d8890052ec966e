"""Fig 2: the teacher-training and student-training block diagrams, drawn with matplotlib."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.patches import FancyBboxPatch

__all__ = ["kd_diagrams", "TRAINABLE", "FROZEN"]

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
