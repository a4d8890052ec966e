"""The paper's experiments as functions returning tidy DataFrames (one row per trained model).

A :class:`Lab` binds a profile, a data set, the run store and the carbon settings, so that a
notebook reads ``lab.tuned_kd()`` or ``lab.stochastic_kd()``; every run it asks for is trained
once and then read back from the run store. Every KD experiment takes ``method=``, any registered
distillation method with a temperature (``"kd"``, ``"cmc"``, ``"dml"``; see
``greenkd_lib.methods``): ``lab.tuned_kd(method="dml")`` is Table 4's tuned DML row.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import torch

from .. import paths
from ..carbon import PAPER_CARBON_INTENSITY
from ..config.profiles import checked, get_profile, Profile
from ..config.run import CarbonSettings, RunConfig
from ..engine.configs import method_config, teacher_config
from ..engine.executors import Executor, GridReport, make_executor
from ..engine.train import get_or_run, load_model
from ..methods import FixedTemperature, get_method, StochasticTemperature
from ..runs import RunStore
from .rows import row, tune

__all__ = ["Lab"]


class Lab:
    """Experiments on one data set under one profile.

    ``dataset=None`` takes the profile's data set, or (paper profile) ``paper_dataset``, the one
    the figure uses in the paper. Without ``country`` or ``carbon_intensity`` CO2 is charged at
    the paper's implied 294.21 g/kWh, so that our grams compare with the paper's.

    ``executor`` trains the runs of one call (``greenkd_lib.engine.executors``): "serial", "processes"
    (``workers`` local processes), "ray" (a local Ray, or the cluster at ``ray_address``), or None:
    processes where this machine trains runs side by side (a CPU with 2+ cores, several GPUs), else
    serial. Every executor gives a run the same numbers.
    """

    def __init__(self, profile: str | Profile = "quick", *, dataset: str | None = None,
                 paper_dataset: str = "cifar100", data_root: str | Path | None = None,
                 output_root: str | Path | None = None, runs_root: str | Path | None = None,
                 device: str | None = None, country: str | None = None, carbon_intensity: float | None = None,
                 seeds: Iterable[int] | None = None, progress: bool = True, executor: str | Executor | None = None,
                 workers: int | None = None, ray_address: str | None = None, **overrides: Any) -> None:
        # Every argument is checked here, before any run directory exists (the store makes them lazily).
        self.profile = get_profile(profile, seeds=seeds, **overrides)  # seeds=None: the profile's
        self.dataset = dataset or self.profile.dataset_for(paper_dataset)
        self._dataset_chosen = dataset is not None or self.profile.dataset is not None
        self.dataset = _dataset_name(self.dataset)  # an unknown name fails here, listing the known ones
        if _is_detection(self.dataset) and not _is_detection(self.profile.dataset or ""):
            self.profile = self.profile.for_detection()  # detectors, image size and schedule of Table 4's VOC rows
        if country is None and carbon_intensity is None:
            carbon_intensity = PAPER_CARBON_INTENSITY
        self.carbon = CarbonSettings(country=country, carbon_intensity=carbon_intensity)
        if country is not None:
            from ..carbon import check_country

            check_country(country)  # codecarbon's offline data must know it, or the first run fails
        _check_device(device)
        # Resolved against the project, not the cwd: a notebook runs from notebooks/.
        self.data_root = paths.data_root(data_root)
        self.store = RunStore(runs_root if runs_root is not None else paths.runs_root(output_root))
        self.device = device
        self.progress = progress
        # How the independent runs of one call (a tau grid, several seeds) are trained (executors/).
        self.executor = make_executor(executor, workers=workers, ray_address=ray_address, device=device)

    def __repr__(self) -> str:
        return (f"Lab(profile={self.profile.name!r}, dataset={self.dataset!r}, seeds={self.profile.seeds}, "
                f"executor={self.executor.name!r})")

    @property
    def title(self) -> str:
        """What every figure title and table caption names: profile, data set and the KD loss's reduction."""
        return f"{self.dataset}, {self.profile.name} profile, KL '{self.profile.kd_reduction}'"

    def across(self, datasets: str | Iterable[str] | None = None,
               paper_datasets: Iterable[str] = ("cifar10", "cifar100", "tinyimagenet")) -> list["Lab"]:
        """One Lab per data set, with this one's profile, seeds, run store, device and carbon settings.

        ``datasets=None``: this lab's data set where one was chosen (given, or pinned by the profile,
        as quick and smoke pin digits), else ``paper_datasets`` (the paper profile: its tables' data sets).
        """
        from ..data import canonical_name

        if datasets is None:
            datasets = [self.dataset] if self._dataset_chosen else list(paper_datasets)
        elif isinstance(datasets, str):
            datasets = [datasets]
        labs = []
        for name in datasets:
            lab = copy.copy(self)
            lab.dataset = canonical_name(name)
            labs.append(lab)
        if not labs:
            raise ValueError("datasets is empty; give at least one, e.g. datasets=['cifar10'], or None")
        return labs

    @property
    def is_detection(self) -> bool:
        """Whether this lab's runs are detectors (Table 4's VOC rows) rather than classifiers."""
        return _is_detection(self.dataset)

    def detection(self, seeds: Iterable[int] | None = None) -> "Lab":
        """The lab of Table 4's detection rows: this one's store, device and carbon settings, with the
        profile's ``detection`` settings (quick: digit scenes and the narrow SSD pair; paper: VOC and
        SSD300-VGG16 -> SSDLite-MobileNetV2). ``seeds`` None: those settings' seeds, else the profile's."""
        lab = copy.copy(self)
        lab.profile = self.profile.for_detection()
        if seeds is not None:
            lab.profile = lab.profile.replace(seeds=seeds)
        lab.dataset = _dataset_name(lab.profile.dataset)
        lab._dataset_chosen = True
        return lab

    # -- configs -------------------------------------------------------------------------------
    def teacher_config(self, model: str | None = None, seed: int | None = None) -> RunConfig:
        """The teacher's run: cross-entropy alone, on the profile's ``teacher_schedule`` if it has one."""
        seed = self.profile.seeds[0] if seed is None else seed
        profile = self.profile.replace(**self.profile.teacher_schedule) if self.profile.teacher_schedule else self.profile
        return teacher_config(profile, model or self.profile.teacher, self.dataset, seed, self.carbon)

    def kd_config(self, policy_config: dict[str, Any], student: str | None = None, teacher: str | None = None,
                  seed: int | None = None, batch_size: int | None = None, method: str = "kd",
                  params: dict[str, Any] | None = None) -> RunConfig:
        """A run of the distillation ``method`` at the temperature policy ``policy_config``.

        ``teacher`` is the teacher architecture (for DML, which has no pre-trained teacher, the
        peer's); ``params`` the method's own parameters over the profile's.
        """
        spec = get_method(method)
        if not spec.uses_temperature:
            raise ValueError(f"method {spec.name!r} has no temperature to tune or draw; "
                             f"use a KD method ({', '.join(_kd_methods())})")
        # Every student of a teacher architecture learns from the same teacher: the first seed's.
        seed = self.profile.seeds[0] if seed is None else seed
        if spec.needs_teacher:
            return method_config(self.profile, spec.name, student or self.profile.students[0], self.dataset, seed,
                                 teacher=self.teacher_config(teacher), temperature=policy_config, params=params,
                                 carbon=self.carbon, batch_size=batch_size)
        params = {"peer": teacher or self.profile.teacher, **(params or {})} if "peer" in spec.defaults else params
        return method_config(self.profile, spec.name, student or self.profile.students[0], self.dataset, seed,
                             temperature=policy_config, params=params, carbon=self.carbon, batch_size=batch_size)

    def _seeds(self, seeds: Iterable[int] | None) -> tuple[int, ...]:
        """The ``seeds`` argument of an experiment, checked; None: the profile's."""
        return self.profile.seeds if seeds is None else checked("seeds", seeds)

    # -- running -------------------------------------------------------------------------------
    def run(self, cfg: RunConfig) -> dict[str, Any]:
        """The finished result of ``cfg`` (trained now if the store does not have it)."""
        return get_or_run(cfg, store=self.store, data_root=self.data_root, device=self.device,
                          progress=self.progress, num_workers=self.profile.num_workers)

    def run_all(self, configs: Iterable[RunConfig]) -> GridReport:
        """Train the runs of ``configs`` that the store lacks with this lab's executor, teachers first.

        Raises :class:`~greenkd_lib.engine.executors.GridError` naming each failed run and why, once the
        others have finished (they are stored: calling again trains only the failed ones)."""
        report = self.executor.run(configs, self.store, data_root=self.data_root, device=self.device,
                                   progress=self.progress)
        report.raise_failures()
        return report

    def _rows(self, configs: Iterable[tuple[RunConfig, dict[str, Any]]]) -> pd.DataFrame:
        configs = list(configs)
        self.run_all(cfg for cfg, _ in configs)
        rows = []
        for cfg, extra in configs:
            result = self.run(cfg)
            rows.append(row(cfg, result, self.store.run(cfg.to_dict()).hash, extra))
        return pd.DataFrame(rows)

    # -- the experiments -----------------------------------------------------------------------
    def teacher(self, model: str | None = None, seeds: Iterable[int] | None = None) -> pd.DataFrame:
        """The teacher trained with cross-entropy, one row per seed."""
        seeds = self._seeds(seeds)
        return self._rows((self.teacher_config(model, s), {"method": "teacher"}) for s in seeds)

    def student_from_scratch(self, student: str | None = None, seeds: Iterable[int] | None = None) -> pd.DataFrame:
        """The student trained alone with cross-entropy (no teacher), one row per seed."""
        seeds = self._seeds(seeds)
        model = student or self.profile.students[0]
        return self._rows((teacher_config(self.profile, model, self.dataset, s, self.carbon), {"method": "scratch"})
                          for s in seeds)

    def kd(self, tau: float, student: str | None = None, teacher: str | None = None,
           seeds: Iterable[int] | None = None, method: str = "kd",
           params: dict[str, Any] | None = None) -> pd.DataFrame:
        """KD (or another distillation ``method``) at one fixed temperature, one row per seed."""
        seeds = self._seeds(seeds)
        policy = FixedTemperature(tau).config()
        return self._rows((self.kd_config(policy, student, teacher, s, method=method, params=params),
                           {"method": "kd", "tau": float(tau)}) for s in seeds)

    def kd_grid(self, grid: Iterable[float] | None = None, student: str | None = None, teacher: str | None = None,
                seeds: Iterable[int] | None = None, method: str = "kd",
                params: dict[str, Any] | None = None, grid_mode: str | None = None) -> pd.DataFrame:
        """One full training of ``method`` per tau of the grid and per seed (Fig 3a).

        ``grid_mode`` (None: the profile's ``grid``): "naive", one complete training per tau (the
        paper's); "shared", each seed's students trained together on one teacher pass per batch
        (:mod:`greenkd_lib.engine.shared_grid`): the same accuracies, each run charged its share of
        the grid's measured cost; its rows have a ``grid`` column that says so."""
        grid = self.profile.tau_grid if grid is None else checked("grid", grid, "tau_grid")
        seeds = self._seeds(seeds)
        mode = self._grid_mode(grid_mode, method)
        if mode == "shared":
            return self._shared_grid(grid, student, teacher, seeds, method, params)
        # The whole grid at once, so that its runs train side by side.
        self.run_all(self.kd_config(FixedTemperature(t).config(), student, teacher, s, method=method, params=params)
                     for t in grid for s in seeds)
        return pd.concat([self.kd(t, student, teacher, seeds, method, params) for t in grid], ignore_index=True)

    def _grid_mode(self, grid_mode: str | None, method: str) -> str:
        """The grid mode asked for (None: the profile's); a method without a pre-trained teacher to share
        (DML, data-free, detection) trains naively under a shared profile, and refuses an explicit request."""
        mode = self.profile.grid if grid_mode is None else checked("grid_mode", grid_mode, "grid")
        spec = get_method(method)
        if mode == "shared" and (not spec.needs_teacher or spec.data_free or self.is_detection):
            if grid_mode is None:
                return "naive"
            raise ValueError(f"a shared grid shares a pre-trained teacher's forward pass over real images; method "
                             f"{spec.name!r} on {self.dataset!r} has none to share: use grid_mode='naive'")
        return mode

    def _shared_grid(self, grid, student, teacher, seeds, method, params) -> pd.DataFrame:
        from ..engine.shared_grid import shared_member

        members = {s: [(t, shared_member(self.kd_config(FixedTemperature(t).config(), student, teacher, s,
                                                         method=method, params=params), grid)) for t in grid]
                   for s in seeds}
        # One member per seed to the executor: asking for one trains its whole grid (each seed's in a worker).
        self.run_all(next(cfg for _, cfg in ms if self.store.run(cfg.to_dict()).result() is None)
                     for ms in members.values() if any(self.store.run(c.to_dict()).result() is None for _, c in ms))
        rows = self._rows((cfg, {"method": "kd", "tau": float(t)}) for s in seeds for t, cfg in members[s])
        rows["grid"] = "shared"
        return rows.sort_values(["tau", "seed"], kind="stable", ignore_index=True)

    def tuned_kd(self, grid: Iterable[float] | None = None, student: str | None = None, teacher: str | None = None,
                 seeds: Iterable[int] | None = None, method: str = "kd",
                 params: dict[str, Any] | None = None, grid_mode: str | None = None) -> pd.DataFrame:
        """Traditional KD: per seed, the grid's best tau on *validation*; its cost is the whole grid's.

        ``grid_mode="shared"`` (or the profile's ``grid``): the grid trained on one teacher pass; its
        rows say so (``grid`` column "shared", temperature "tuned tau=... (shared-teacher grid of N)")
        and the tables that show it beside the naive grid name it "KD, tuned tau, shared teacher"."""
        rows = self.kd_grid(grid, student, teacher, seeds, method, params, grid_mode)
        tuned = tune(rows)
        if "grid" in rows:  # a shared grid's: its cost is not the paper's naive grid's, and it says so
            tuned["temperature"] = tuned["temperature"].str.replace("(grid of", "(shared-teacher grid of", regex=False)
        return tuned

    def stochastic_kd(self, low: float | None = None, high: float | None = None, per: str = "batch",
                      integer: bool = True, distribution: str = "uniform", student: str | None = None,
                      teacher: str | None = None, seeds: Iterable[int] | None = None,
                      batch_size: int | None = None, method: str = "kd",
                      params: dict[str, Any] | None = None) -> pd.DataFrame:
        """The paper's method: a fresh random tau for every batch (or epoch / sample), one training
        of the distillation ``method``."""
        return self._rows(self._stochastic_configs(low, high, per, integer, distribution, student, teacher, seeds,
                                                   batch_size, method, params))

    def _stochastic_configs(self, low, high, per, integer, distribution, student, teacher, seeds, batch_size,
                            method, params) -> list[tuple[RunConfig, dict[str, Any]]]:
        seeds = self._seeds(seeds)
        low = self.profile.tau_low if low is None else low
        high = self.profile.tau_high if high is None else high
        configs = []
        for s in seeds:
            policy = StochasticTemperature(low, high, integer=integer, per=per, distribution=distribution,
                                           seed=s).config()
            configs.append((self.kd_config(policy, student, teacher, s, batch_size, method, params),
                            {"method": "ours"}))
        return configs

    def tuned_and_ours(self, method: str = "kd", grid: Iterable[float] | None = None, student: str | None = None,
                       teacher: str | None = None, seeds: Iterable[int] | None = None,
                       params: dict[str, Any] | None = None, grid_mode: str | None = None) -> pd.DataFrame:
        """Table 4's pair for one objective: tuned KD over the grid (one row per seed) and ours
        (stochastic tau per batch), all their runs trained side by side (``grid_mode``: see :meth:`kd_grid`)."""
        grid = self.profile.tau_grid if grid is None else checked("grid", grid, "tau_grid")
        seeds = self._seeds(seeds)
        ours = self._stochastic_configs(None, None, "batch", True, "uniform", student, teacher, seeds, None,
                                        method, params)
        if self._grid_mode(grid_mode, method) == "naive":
            self.run_all([self.kd_config(FixedTemperature(t).config(), student, teacher, s, method=method,
                                         params=params) for t in grid for s in seeds] + [cfg for cfg, _ in ours])
        return pd.concat([self.tuned_kd(grid, student, teacher, seeds, method, params, grid_mode), self._rows(ours)],
                         ignore_index=True)

    # -- reading back --------------------------------------------------------------------------
    def history(self, run_hash: str) -> pd.DataFrame:
        """Per-epoch history of a run (cumulative wall time, energy, CO2 and FLOPs)."""
        return self.store.run_by_hash(run_hash).history()

    def model(self, run_hash: str, weights: str = "best", device: str | torch.device = "cpu") -> torch.nn.Module:
        """The trained model of a run, by hash (the ``hash`` column of any table here)."""
        cfg = RunConfig.from_dict(self.store.run_by_hash(run_hash).config)
        return load_model(cfg, self.store, weights, device)

    def inference(self, run_hash: str, batch_size: int | None = None) -> dict[str, Any]:
        """Time, energy and CO2 of one pass of a trained model over the test set (Fig 1b-c)."""
        from torch.utils.data import DataLoader

        from ..carbon import measure_inference
        from ..devices import pick_device

        dev = pick_device(self.device)
        loader = DataLoader(self.data().test, batch_size=batch_size or self.profile.eval_batch_size, shuffle=False)
        return measure_inference(self.model(run_hash, device=dev), loader, dev,
                                 country_iso_code=self.carbon.country, carbon_intensity=self.carbon.carbon_intensity)

    def tuned_curve(self, grid_rows: pd.DataFrame, seed: int | None = None) -> pd.DataFrame:
        """Fig 1a's tuned-KD curve: per epoch, the accuracy of the tau chosen on validation against
        the cumulative cost of the *whole* grid (every grid run advanced to that epoch)."""
        seed = self.profile.seeds[0] if seed is None else seed
        rows = grid_rows[grid_rows["seed"] == seed]
        if rows.empty:
            seeds = sorted(int(s) for s in grid_rows["seed"].unique())
            raise ValueError(f"no grid run for seed {seed}; the grid has seeds {seeds}")
        chosen = rows.loc[rows["best_val_acc"].idxmax()]
        histories = [self.history(h).set_index("epoch") for h in rows["hash"]]
        curve = self.history(chosen["hash"])[["epoch", "val_acc", "test_acc"]].set_index("epoch")
        for col in ("wall_s", "energy_kwh", "co2_g", "flops"):
            curve[col] = sum(h[col] for h in histories)
        curve["tau"] = chosen["tau"]
        curve["trainings"] = len(rows)
        return curve.reset_index()

    def data(self):
        """The data set bundle the runs use: the one training loaded (same split, order and image size)."""
        from ..data import load_for

        # Every run of a lab shares its data knobs with the teacher's config: one split for all.
        if self.is_detection:
            from ..engine.loops.detection import data_for

            return data_for(self.teacher_config(), self.data_root)
        return load_for(self.teacher_config(), self.data_root)


def _is_detection(dataset: str) -> bool:
    from ..data.detection.bundle import DETECTION_DATASETS

    return dataset in DETECTION_DATASETS


def _dataset_name(name: str) -> str:
    """The registered spelling of a classification or detection data set; unknown names list both kinds."""
    from ..data import DATASETS, UnknownDatasetError, canonical_name
    from ..data.errors import unknown_dataset
    from ..data.detection.bundle import DETECTION_DATASETS

    try:
        return canonical_name(name)
    except UnknownDatasetError:
        key = str(name).strip().lower()
        if key in DETECTION_DATASETS:
            return key
        raise unknown_dataset(name, DATASETS + DETECTION_DATASETS) from None


def _check_device(device: str | torch.device | None) -> None:
    """A device this machine has, or a clear error naming the choices."""
    from ..devices import pick_device

    try:
        dev = pick_device(device)  # an absent CUDA raises ValueError naming the fix
    except RuntimeError:  # torch's own, for a device name it does not know
        raise ValueError(f"device must be None (the best available), 'auto', 'cpu', 'cuda', 'cuda:<index>' or 'mps', "
                         f"got {device!r}; e.g. device='cpu'") from None
    mps = getattr(torch.backends, "mps", None)
    if dev.type == "mps" and not (mps is not None and mps.is_available()):
        raise ValueError(f"device {device!r} asked for, but MPS is not available here; use 'cpu' or 'auto'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ValueError(f"device {device!r} asked for, but this machine has {torch.cuda.device_count()} CUDA "
                         "device(s); use 'cuda' or 'auto'")


def _kd_methods() -> list[str]:
    from ..methods import method_names

    return [m for m in method_names() if get_method(m).uses_temperature]
