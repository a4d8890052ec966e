"""The temperature explorer (notebook 14): tau and alpha by hand, over one real digit.

:class:`Explorer` holds a trained teacher and the stochastic-tau student it taught (read back from
the run store by :func:`from_lab`) and one test image. For a temperature ``tau`` and a KD weight
``alpha`` it gives the two softened distributions (:meth:`Explorer.soft`), the CE and KD terms of
the loss and the sizes of their gradients (:meth:`Explorer.measure`, with
:func:`greenkd_lib.methods.gradient_sizes`), and draws taus as the paper's method does, one per
batch (:meth:`Explorer.draw`). :meth:`Explorer.widget` puts sliders and buttons on it for JupyterLab;
:meth:`Explorer.static_figure`, :meth:`Explorer.table` and :meth:`Explorer.draws_figure` are the
panels a notebook run without a front end (papermill, the batch) saves instead.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from ..methods import gradient_sizes, kd_loss, StochasticTemperature

__all__ = ["Explorer", "ExplorerWidget", "from_lab", "static_taus", "panel_caption", "table_caption",
           "draws_caption"]

TEACHER, STUDENT = "tab:red", "tab:green"  # Fig 2's colours: the frozen teacher red, the trainable student green


class Explorer:
    """One image through a teacher and a student, at any tau and alpha.

    ``image`` is one normalised image ``(C, H, W)`` as the models see it, ``label`` its class
    index; ``picture`` the same image for display ``(H, W, 3)``. Both models are used in
    evaluation mode on the CPU (a single image: BatchNorm on its running statistics). The KD
    gradient is linear in ``alpha`` and the CE gradient in ``1 - alpha``, so the curve over tau
    (:meth:`curve`) is measured once and scaled; the point at the chosen tau is measured afresh.
    ``low``..``high`` is the stochastic method's range, ``seed`` seeds its draws.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, image: torch.Tensor, label: int,
                 classes: Sequence[str], picture: np.ndarray | None = None, *, alpha: float = 0.95,
                 reduction: str = "batchmean", low: float = 2, high: float = 20, seed: int | None = 0,
                 title: str = "") -> None:
        if image.dim() != 3:
            raise ValueError(f"image must be one image (C, H, W), got shape {tuple(image.shape)}")
        if not 0 <= int(label) < len(classes):
            raise ValueError(f"label {label} is not a class index of the {len(classes)} classes")
        _check_alpha(alpha)
        self.teacher, self.student = teacher.cpu().eval(), student.cpu().eval()
        self.x, self.y = image[None].float().cpu(), torch.tensor([int(label)])
        self.label, self.classes = int(label), list(classes)
        self.picture = picture
        self.alpha, self.reduction, self.title = float(alpha), reduction, title
        self.low, self.high = float(low), float(high)
        self.policy = StochasticTemperature(low, high, seed=seed)  # as the run draws: uniform integers low..high
        self.draws: list[float] = []
        with torch.no_grad(), _one_thread():
            self.a_m, self.a_s = self.teacher(self.x)[0].float(), self.student(self.x)[0].float()
        self._curve: pd.DataFrame | None = None
        self.runs: dict[str, pd.Series] = {}  # the Lab rows of the teacher's and the student's runs (from_lab)

    # -- the numbers ---------------------------------------------------------------------------
    def soft(self, tau: float) -> pd.DataFrame:
        """Per class: the teacher's and the student's softmax at ``tau`` (``o_m``, ``o_s``) and at 1."""
        tau = _check_tau(tau)
        return pd.DataFrame({"class": self.classes,
                             "o_m (teacher)": torch.softmax(self.a_m / tau, 0).numpy(),
                             "o_s (student)": torch.softmax(self.a_s / tau, 0).numpy(),
                             "h_m (tau 1)": torch.softmax(self.a_m, 0).numpy(),
                             "h_s (tau 1)": torch.softmax(self.a_s, 0).numpy()})

    def measure(self, tau: float, alpha: float | None = None) -> dict[str, float]:
        """The loss terms and gradient sizes for this image at ``tau`` and ``alpha`` (default: the explorer's).

        Keys: ``tau``, ``alpha``, ``ce_term`` = (1 - alpha) CE, ``kd_term`` = alpha tau^2 KL, ``total``,
        ``teacher_top`` and ``student_top`` (the largest softened probability), ``teacher_entropy``
        (nats), and from :func:`~greenkd_lib.methods.gradient_sizes` the L2 norms of both terms'
        gradients with respect to the logits and to the student's parameters, and their ratios.
        """
        tau, alpha = _check_tau(tau), self.alpha if alpha is None else _check_alpha(alpha)
        s, t = self.a_s[None], self.a_m[None]
        ce = kd_loss(s, t, self.y, tau, alpha=0.0, reduction=self.reduction).item()
        kd = kd_loss(s, t, self.y, tau, alpha=1.0, reduction=self.reduction).item()
        o_m = torch.softmax(self.a_m / tau, 0)
        with _one_thread():
            sizes = gradient_sizes(self.student, self.teacher, [(self.x, self.y)], [tau], alpha, self.reduction,
                                   student_mode="eval").iloc[0]
        return {"tau": tau, "alpha": alpha, "ce_term": (1 - alpha) * ce, "kd_term": alpha * kd,
                "total": (1 - alpha) * ce + alpha * kd, "teacher_top": float(o_m.max()),
                "student_top": float(torch.softmax(self.a_s / tau, 0).max()),
                "teacher_entropy": float(-(o_m * o_m.clamp_min(1e-12).log()).sum()),
                **{k: float(sizes[k]) for k in ("kd_logit_norm", "ce_logit_norm", "logit_ratio", "kd_param_norm",
                                                "ce_param_norm", "param_ratio")}}

    def curve(self, alpha: float | None = None) -> pd.DataFrame:
        """Gradient norms (parameters) of both terms at every integer tau from 1 to ``high`` for ``alpha``.

        Measured once at alpha = 1/2 and scaled (KD by 2 alpha, CE by 2 (1 - alpha)): exact, since
        the KD term is alpha times a function of tau and the CE term (1 - alpha) times one without.
        """
        alpha = self.alpha if alpha is None else _check_alpha(alpha)
        if self._curve is None:
            taus = range(1, int(math.floor(self.high)) + 1)
            with _one_thread():
                self._curve = gradient_sizes(self.student, self.teacher, [(self.x, self.y)], taus, 0.5,
                                             self.reduction, student_mode="eval")[["tau", "kd_param_norm", "ce_param_norm"]]
        out = self._curve.copy()
        out["kd_param_norm"] *= 2 * alpha
        out["ce_param_norm"] *= 2 * (1 - alpha)
        return out

    def table(self, taus: Sequence[float], alpha: float | None = None) -> pd.DataFrame:
        """:meth:`measure` at each tau of ``taus``, one row each."""
        return pd.DataFrame([self.measure(t, alpha) for t in taus])

    def draw(self, n: int = 1) -> list[float]:
        """Draw ``n`` taus as the stochastic method draws one per batch; they add to :attr:`draws`."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n (how many taus to draw) must be a whole number >= 1, got {n!r}")
        new = [float(self.policy.sample()) for _ in range(n)]
        self.draws.extend(new)
        return new

    # -- the pictures --------------------------------------------------------------------------
    def panel(self, tau: float, alpha: float | None = None, measured: dict[str, float] | None = None) -> plt.Figure:
        """One figure for one setting: the image, both softened distributions, the loss terms and
        the gradient sizes across tau with this tau marked (``measured``: :meth:`measure`'s, if at hand)."""
        alpha = self.alpha if alpha is None else _check_alpha(alpha)
        m = self.measure(tau, alpha) if measured is None else measured
        fig, axes = plt.subplots(1, 4, figsize=(15, 3.4), gridspec_kw={"width_ratios": [0.7, 2.2, 1.3, 2]})
        self._draw_image(axes[0])
        self._draw_soft(axes[1], tau)
        ax = axes[2]
        bars = ax.bar(["(1-a) CE", "a tau² KL", "total"], [m["ce_term"], m["kd_term"], m["total"]],
                      color=["0.6", TEACHER, "tab:blue"])
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
        ax.set_title(f"loss terms (alpha = {alpha:g})", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        self._draw_curve(axes[3], alpha, [m])
        fig.suptitle(f"tau = {m['tau']:g}, alpha = {alpha:g}: KD/CE gradient ratio {m['param_ratio']:.3g}"
                     + (f" ({self.title})" if self.title else ""), fontsize=10)
        fig.tight_layout()
        return fig

    def static_figure(self, taus: Sequence[float], alpha: float | None = None) -> plt.Figure:
        """The panel a run without a front end keeps: the image, the softened distributions at each
        tau of ``taus`` and the gradient sizes across tau with those taus marked."""
        alpha = self.alpha if alpha is None else _check_alpha(alpha)
        taus = [_check_tau(t) for t in taus]
        if not taus:
            raise ValueError("taus is empty; give at least one temperature, e.g. [1, 4, 20]")
        fig, axes = plt.subplots(1, len(taus) + 2, figsize=(3.2 * len(taus) + 6, 3.4),
                                 gridspec_kw={"width_ratios": [0.8] + [2] * len(taus) + [2.4]})
        self._draw_image(axes[0])
        for ax, t in zip(axes[1:-1], taus):
            self._draw_soft(ax, t)
        self._draw_curve(axes[-1], alpha, [self.measure(t, alpha) for t in taus])
        fig.tight_layout()
        return fig

    def draws_figure(self) -> plt.Figure:
        """The histogram of the taus drawn so far, against what the policy draws on average."""
        fig, ax = plt.subplots(figsize=(6, 3))
        self._draw_draws(ax)
        fig.tight_layout()
        return fig

    def _draw_image(self, ax) -> None:
        if self.picture is not None:
            ax.imshow(self.picture, interpolation="nearest")
        ax.set_title(f"input (label {self.classes[self.label]})", fontsize=9)
        ax.axis("off")

    def _draw_soft(self, ax, tau: float) -> None:
        soft, pos = self.soft(tau), np.arange(len(self.classes))
        ax.bar(pos - 0.2, soft["o_m (teacher)"], 0.4, color=TEACHER, label="teacher o_m")
        ax.bar(pos + 0.2, soft["o_s (student)"], 0.4, color=STUDENT, label="student o_s")
        ax.set_xticks(pos, self.classes, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(f"softmax(logits / {float(tau):g})", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
        ax.grid(axis="y", alpha=0.3)

    def _draw_curve(self, ax, alpha: float, points: Sequence[dict[str, float]]) -> None:
        curve = self.curve(alpha)
        ax.plot(curve["tau"], curve["kd_param_norm"], "-", color=TEACHER, label="KD term")
        ax.plot(curve["tau"], curve["ce_param_norm"], "--", color="0.4", label="CE term")
        ax.axvspan(self.low, self.high, color=STUDENT, alpha=0.08, label="random tau's range")
        for p in points:
            ax.plot([p["tau"]], [p["kd_param_norm"]], "o", color="black", ms=6, zorder=3)
        ax.set_xlabel("tau")
        ax.set_ylabel("gradient norm (parameters)")
        ax.set_ylim(bottom=0)
        ax.set_title(f"gradient sizes across tau (dot{'s' if len(points) > 1 else ''}: the tau shown)", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)

    def _draw_draws(self, ax) -> None:
        lo, hi = int(math.ceil(self.low)), int(math.floor(self.high))
        edges = np.arange(lo - 0.5, hi + 1.5)
        ax.hist(self.draws, bins=edges, color=STUDENT, edgecolor="white")
        n = len(self.draws)
        ax.set_ylim(bottom=0, top=None if n else 1)
        ax.set_xticks(range(lo, hi + 1, 2))
        if n:
            ax.axhline(n / (hi - lo + 1), color="0.3", ls="--", lw=1, label="expected count per tau")
            ax.axvline(float(np.mean(self.draws)), color=TEACHER, lw=1.5, label=f"mean {np.mean(self.draws):.2f}")
            ax.legend(fontsize=7)
        ax.set_xlabel("tau drawn")
        ax.set_ylabel("batches")
        ax.set_title(f"{n} random tau(s), one per batch ({self.policy.label()})", fontsize=9)

    def widget(self) -> "ExplorerWidget":
        """Sliders for tau and alpha and the random-tau buttons, for JupyterLab (display it)."""
        return ExplorerWidget(self)


class ExplorerWidget:
    """The explorer's controls: every change redraws the panel (a PNG in an ``ipywidgets.Image``,
    so it needs no output capture) and the numbers; :attr:`state` holds the last measurement."""

    def __init__(self, explorer: Explorer, tau: float | None = None) -> None:
        import ipywidgets as w

        self.explorer = explorer
        start = float(explorer.low if tau is None else tau)
        self.tau = w.FloatSlider(value=start, min=1.0, max=explorer.high, step=0.5, description="tau",
                                 continuous_update=False, readout_format=".1f")
        self.alpha = w.FloatSlider(value=explorer.alpha, min=0.0, max=1.0, step=0.05, description="alpha",
                                   continuous_update=False, readout_format=".2f")
        wide = w.Layout(width="auto")
        self.draw_one = w.Button(description="random tau per batch", layout=wide, tooltip=f"draw one tau as the "
                                 f"method does for a batch ({explorer.policy.label()}) and move the slider to it")
        self.draw_many = w.Button(description="draw 50 batches", layout=wide)
        self.clear = w.Button(description="clear draws", layout=wide)
        self.numbers = w.HTML()
        self.image = w.Image(format="png", layout=w.Layout(max_width="100%"))
        self.histogram = w.Image(format="png", layout=w.Layout(width="480px"))  # its own size, not the page's
        self.state: dict[str, float] = {}
        self.tau.observe(self._changed, names="value")
        self.alpha.observe(self._changed, names="value")
        self.draw_one.on_click(lambda _: self._drawn(1))
        self.draw_many.on_click(lambda _: self._drawn(50))
        self.clear.on_click(self._cleared)
        self.box = w.VBox([w.HBox([self.tau, self.alpha]), self.numbers, self.image,
                           w.HBox([self.draw_one, self.draw_many, self.clear]), self.histogram])
        self._changed()
        self._histogram()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.box)

    def _changed(self, _change: Any = None) -> None:
        self.state = s = self.explorer.measure(self.tau.value, self.alpha.value)
        self.numbers.value = (f"<b>tau {s['tau']:g}, alpha {s['alpha']:g}</b>: teacher's top probability "
                              f"{s['teacher_top']:.3f}, student's {s['student_top']:.3f}; (1-alpha) CE = {s['ce_term']:.4g}, "
                              f"alpha tau² KL = {s['kd_term']:.4g}; gradient norms (parameters) KD {s['kd_param_norm']:.3g}, "
                              f"CE {s['ce_param_norm']:.3g}, ratio {s['param_ratio']:.3g}")
        # The picture last: whoever waits for it to change finds the numbers above it updated too.
        self.image.value = _png(self.explorer.panel(s["tau"], s["alpha"], measured=s))

    def _drawn(self, n: int) -> None:
        new = self.explorer.draw(n)
        self._histogram()
        self.tau.value = new[-1]  # the slider moves to the last batch's tau, which redraws the panel

    def _cleared(self, _button: Any = None) -> None:
        self.explorer.draws.clear()
        self._histogram()

    def _histogram(self) -> None:
        self.histogram.value = _png(self.explorer.draws_figure())


@contextmanager
def _one_thread() -> Iterator[None]:
    """One image through small models: a second intra-op thread only spin-waits on a busy machine (measured 5-10x
    slower beside other work on 2 cores), and a slider must answer at once."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def _check_tau(tau: Any) -> float:
    if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau must be a finite number > 0, got {tau!r}")
    return float(tau)


def _check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha (the KD weight) must be a number in [0, 1], got {alpha!r}")
    return float(alpha)


def from_lab(lab: Any, student: str | None = None, image_index: int = 0, alpha: float | None = None) -> Explorer:
    """An explorer over test image ``image_index`` with the first seed's teacher and the stochastic-tau
    ``student`` it taught (default the profile's first), read back from ``lab``'s run store (trained first
    where missing: the runs notebooks 00-03 share). ``alpha`` None: the profile's."""
    bundle = lab.data()
    if isinstance(image_index, bool) or not isinstance(image_index, int) or not 0 <= image_index < len(bundle.test):
        raise ValueError(f"image_index must be a whole number in 0..{len(bundle.test) - 1} (the test images), "
                         f"got {image_index!r}")
    seed = lab.profile.seeds[0]
    student = student or lab.profile.students[0]
    teacher_run = lab.teacher(seeds=[seed]).iloc[0]
    student_run = lab.stochastic_kd(student=student, seeds=[seed]).iloc[0]
    image, label = bundle.test[image_index]
    explorer = Explorer(lab.model(teacher_run["hash"]), lab.model(student_run["hash"]), image, int(label),
                        bundle.classes, bundle.denormalize(image).permute(1, 2, 0).numpy(),
                        alpha=lab.profile.alpha if alpha is None else alpha, reduction=lab.profile.kd_reduction,
                        low=lab.profile.tau_low, high=lab.profile.tau_high, seed=seed, title=lab.title)
    explorer.runs = {"teacher": teacher_run, "student": student_run}
    return explorer


def static_taus(taus: Sequence[float] | None, low: float, high: float) -> list[float]:
    """The taus of the static panel: ``taus``, or 1, the range's ends and its geometric middle."""
    if taus is None:
        return [1.0, float(low), float(round(math.sqrt(low * high))), float(high)]
    return [_check_tau(t) for t in taus]


def panel_caption(explorer: Explorer, taus: Sequence[float]) -> str:
    """The caption of :meth:`Explorer.static_figure`."""
    return (f"Temperature explorer, one test image of class {explorer.classes[explorer.label]}: teacher and student "
            f"soft outputs at tau = {', '.join(f'{t:g}' for t in taus)}, and the KD and CE gradient norms across tau "
            f"(alpha {explorer.alpha:g}; {explorer.title})")


def table_caption(explorer: Explorer) -> str:
    """The caption of :meth:`Explorer.table`."""
    return (f"Temperature explorer: loss terms and gradient norms for one test image of class "
            f"{explorer.classes[explorer.label]} at each tau (alpha {explorer.alpha:g}; {explorer.title})")


def draws_caption(explorer: Explorer) -> str:
    """The caption of :meth:`Explorer.draws_figure`."""
    return (f"{len(explorer.draws)} taus drawn one per batch as the stochastic method draws them "
            f"({explorer.policy.label()}; {explorer.title})")
