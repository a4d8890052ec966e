"""The base class of a distillation method, and what the training loop hands it (:class:`Setup`).

The training loop (``greenkd_lib.engine.train``) keeps what every method shares: data, device, schedule,
checkpoint and resume, carbon, FLOPs, progress bar, NaN check. A method says what one step
trains, at one of two levels:

- :meth:`DistillationMethod.loss_terms` returns the loss as named terms (``{"ce": ..., "kd": ...}``)
  of the student (and of any extra parts it declared in :meth:`trainable`); the loop's default
  :meth:`train_step` sums them and steps the student's optimizer;
- a method that owns other networks or optimizers (mutual learning) overrides
  :meth:`train_step` and takes over the whole step.

A new method is one module with one subclass, a line in the table of :mod:`greenkd_lib.methods`, and its tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterable, TYPE_CHECKING

import torch
from torch import nn

from ..carbon.flops import BACKWARD_FACTOR
from .kd import sum_terms
from .temperature import policy_from_config, TemperaturePolicy

if TYPE_CHECKING:
    from ..config.run import RunConfig

__all__ = ["DistillationMethod", "Setup"]

OptimizerFactory = Callable[[Iterable[nn.Parameter]], tuple[torch.optim.Optimizer, Any]]


@dataclass
class Setup:
    """What the training loop hands a method when a run starts."""

    student: nn.Module
    teacher: nn.Module | None  # frozen, eval mode; None for methods without a teacher
    teacher_feature_dim: int | None  # width of the teacher's features, for methods that ask for them
    num_classes: int
    image_size: int
    train_size: int  # samples in the training split (a memory bank has one slot per sample)
    device: torch.device
    # An optimizer and lr scheduler with the run's recipe, for networks a method trains itself.
    make_optimizer: OptimizerFactory
    # For data-free methods (greenkd_lib.methods.datafree): the eager teacher (the frozen one has no BN
    # modules and no autograd; None: ``teacher``) and the data set's normalisation (None: identity).
    teacher_module: nn.Module | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    # The training split's batch augmentation (None: none, as for digits): a pool of synthetic images
    # is augmented as the real ones would be, and a view may flip only where ``augment.flip`` says so.
    augment: Any = None
    # Each training sample's class, by index (classification; None elsewhere): CRD's exact-mode negatives.
    train_labels: torch.Tensor | None = None


class DistillationMethod:
    """One way to train a student. Subclasses set the class attributes and :meth:`loss_terms`."""

    name: ClassVar[str]  # its key in the table of methods, used in configs, result rows and tables
    paper_name: ClassVar[str]  # the paper's name for it (Table 4's "loss" column)
    needs_teacher: ClassVar[bool] = False  # a pre-trained, frozen teacher
    uses_temperature: ClassVar[bool] = False  # a KD temperature policy (fixed or stochastic tau)
    uses_alpha: ClassVar[bool] = False  # weighs CE and KD with the run's alpha (Hinton KD)
    needs_indices: ClassVar[bool] = False  # batches carry each sample's index in the training set
    # The teacher returns (logits, penultimate features) instead of logits.
    teacher_features: ClassVar[bool] = False
    defaults: ClassVar[dict[str, Any]] = {}  # the method's own parameters and their defaults
    # Synthesises its own inputs (greenkd_lib.methods.datafree.DataFreeMethod): the loop asks it for batches.
    data_free: ClassVar[bool] = False
    # The KL reduction the method always computes with (None: the profile's, recorded in the run config).
    kd_reduction: ClassVar[str | None] = None

    def __init__(self, cfg: "RunConfig", setup: Setup) -> None:
        self.cfg = cfg
        self.setup = setup
        self.student = setup.student
        self.teacher = setup.teacher
        self.device = setup.device
        self.params: dict[str, Any] = dict(cfg.method_params or {})
        self.policy: TemperaturePolicy | None = policy_from_config(cfg.temperature) if self.uses_temperature else None
        self.taus: list[float] = []  # every tau drawn this epoch, for the history's tau columns

    # -- configuration -------------------------------------------------------------------------
    @classmethod
    def resolve_params(cls, given: dict[str, Any] | None) -> dict[str, Any] | None:
        """The method's complete parameters: ``given`` over the defaults; None for a method without any."""
        given = dict(given or {})
        unknown = sorted(set(given) - set(cls.defaults))
        if unknown:
            takes = ", ".join(f"{k}={v!r}" for k, v in cls.defaults.items()) or "no parameters"
            raise ValueError(f"method {cls.name!r} does not take {', '.join(map(repr, unknown))}; it takes {takes}")
        if not cls.defaults:
            return None
        params = {**cls.defaults, **given}
        cls.check_params(params)
        return params

    @classmethod
    def check_params(cls, params: dict[str, Any]) -> None:
        """Raise ``ValueError`` naming a parameter whose value cannot work."""

    @classmethod
    def check_config(cls, cfg: "RunConfig") -> None:
        """Raise ``ValueError`` if ``cfg`` lacks what the method needs."""
        if cfg.method != cls.name:  # one spelling, one hash
            raise ValueError(f"a config names its method by its registered name {cls.name!r}, not {cfg.method!r}")
        if cls.needs_teacher and cfg.teacher is None:
            raise ValueError(f"a {cls.name!r} run needs a teacher config")
        if not cls.needs_teacher and cfg.teacher is not None:
            raise ValueError(f"method {cls.name!r} trains without a pre-trained teacher; drop teacher=")
        if cls.uses_temperature and cfg.temperature is None:
            raise ValueError(f"a {cls.name!r} run needs a temperature policy config (e.g. FixedTemperature(4).config())")
        if not cls.uses_temperature and cfg.temperature is not None:
            raise ValueError(f"method {cls.name!r} has no temperature; drop temperature=")
        if cls.uses_temperature and cls.kd_reduction is not None and cfg.kd_reduction != cls.kd_reduction:
            raise ValueError(f"method {cls.name!r} computes its KL with reduction {cls.kd_reduction!r}, as its "
                             f"reference does; the config says {cfg.kd_reduction!r}: build it with "
                             f"greenkd_lib.engine.configs.method_config, which records the method's own")
        expected = cls.resolve_params(cfg.method_params)
        if cfg.method_params != expected:
            raise ValueError(f"method_params of a {cls.name!r} run must be complete: {expected!r}, "
                             f"got {cfg.method_params!r}; build configs with greenkd_lib.engine.configs.method_config")

    @classmethod
    def label(cls, cfg: "RunConfig") -> str:
        """A short human-readable name of a run, e.g. ``resnet18->mobilenetv2 KD tau=4 seed 0``."""
        tau = f" {policy_from_config(cfg.temperature).label()}" if cfg.temperature else ""
        source = f"{cfg.teacher.model}->" if cfg.teacher is not None else ""
        return f"{source}{cfg.model} {cls.paper_name}{tau} seed {cfg.seed}"

    # -- training ------------------------------------------------------------------------------
    def trainable(self) -> list[nn.Parameter]:
        """Parameters beyond the student's that the student's optimizer also trains (e.g. heads)."""
        return []

    def new_epoch(self) -> None:
        """Called by the loop before every epoch."""
        self.taus = []
        if self.policy is not None:
            self.policy.new_epoch()

    def temperature(self, batch_size: int) -> float | torch.Tensor:
        """The next tau of the run's policy (a ``(batch_size,)`` tensor per sample), recorded."""
        if self.policy is None:
            raise RuntimeError(f"method {self.name!r} has no temperature policy")
        tau = self.policy.sample(batch_size)
        if isinstance(tau, torch.Tensor):
            self.taus.extend(tau.tolist())
            return tau.to(self.device)
        self.taus.append(float(tau))
        return tau

    def loss_terms(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """The batch's loss as named terms; the loop adds them up."""
        raise NotImplementedError(f"{type(self).__name__} must define loss_terms or train_step")

    def train_step(self, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor | None,
                   optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        """One optimisation step on a batch; returns the named terms (detached or not)."""
        terms = self.loss_terms(x, y, index)
        loss = sum_terms(terms, like=x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return terms

    # -- cost and state ------------------------------------------------------------------------
    def train_flops_per_sample(self, student_forward: int, teacher_forward: int) -> int:
        """Training FLOPs per sample: the student's forward and backward (3x forward), plus the teacher's forward."""
        return (1 + BACKWARD_FACTOR) * student_forward + (teacher_forward if self.teacher is not None else 0)

    def state_dict(self) -> dict[str, Any]:
        """Everything beyond the student and its optimizer that a resumed run needs."""
        return {"policy": self.policy.state_dict() if self.policy is not None else None}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.policy is not None:
            self.policy.load_state_dict(state["policy"])
