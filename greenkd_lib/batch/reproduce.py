"""Headless regeneration: execute every notebook with papermill, export it to HTML, build the report.

``greenkd reproduce --profile quick`` runs ``notebooks/NN_*.ipynb`` in order into
``outputs/<profile>/notebooks/``, exports each to ``outputs/<profile>/html/``, records the run in
``outputs/<profile>/summary.json`` and writes ``outputs/<profile>/index.html``.

On an installed wheel, outside any checkout, the notebooks are the wheel's own copies and
``outputs/`` (and ``data/``) are the working directory's: the kernels are told that project folder
through ``GREENKD_HOME``, as they start in the notebooks' folder.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from ..config.profiles import get_profile
from ..paths import HOME_VARIABLE, notebooks_dir, outputs_root, project_root, runs_root
from ..runs.atomic import atomic_write_text
from ..runs.locking import WAIT_NOTES_VARIABLE
from .progress import Eta, previous_times, Progress, Waits
from .trainings import expected_trainings, record, Trainings
from .schedule import run_batch

__all__ = ["notebooks", "reproduce", "default_jobs", "NotebookResult", "NoNotebooksError"]

_NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
_MAX_ERROR_CHARS = 300


class NoNotebooksError(FileNotFoundError):
    """There is no numbered notebook to run (``greenkd reproduce`` exits 2 with the message)."""


@dataclass
class NotebookResult:
    """How one notebook's execution went (one row of ``summary.json``)."""

    notebook: str  # file stem, e.g. "03_fig3_tau_sensitivity"
    status: str  # "ok" or "FAILED"
    seconds: float
    error: str | None  # the exception's last line, for failures
    executed: str | None  # paths relative to outputs/<profile>
    html: str | None
    finished_at: str


def notebooks(pattern: str | None = None, directory: Path | None = None) -> list[Path]:
    """The numbered notebooks ``NN_*.ipynb`` of ``directory`` (default ``notebooks/``), sorted.

    ``pattern`` keeps only file names that contain it, or match it as a glob when it has
    ``*``, ``?`` or ``[``. A pattern that matches nothing raises ``ValueError`` listing them.
    """
    if directory is None:
        directory = notebooks_dir()
        if not directory.is_dir():
            return []
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"notebooks directory {directory} does not exist; pass the folder that holds NN_*.ipynb")
    found = sorted(directory.glob(_NOTEBOOK_GLOB))
    if not pattern or not found:
        return found
    if any(c in pattern for c in "*?["):
        chosen = [p for p in found if fnmatch.fnmatch(p.name, pattern) or fnmatch.fnmatch(p.stem, pattern)]
    else:
        chosen = [p for p in found if pattern in p.name]
    if not chosen:
        raise ValueError(f"no notebook in {directory} matches {pattern!r}; give part of one of these names "
                         f"or a glob: {', '.join(p.name for p in found)}")
    return chosen


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MAX_ERROR_CHARS else line[: _MAX_ERROR_CHARS - 1] + "…"


def _describe(err: BaseException) -> str:
    """The line a traceback ends with (``ValueError: message``), on one line."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(err, PapermillExecutionError):
        return _one_line(f"{err.ename}: {err.evalue}" if err.evalue else str(err.ename))
    return _one_line(f"{type(err).__name__}: {err}" if str(err) else type(err).__name__)


def _kernel_arguments(kernel_name: str) -> list[str]:
    """Check that the kernel exists; the extra command-line arguments it gets."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        spec = manager.get_kernel_spec(kernel_name)
    except NoSuchKernel:
        available = sorted(manager.find_kernel_specs())
        raise ValueError(
            f"no Jupyter kernel named {kernel_name!r}; available: {', '.join(available) or 'none'}. "
            f"Install one with `python -m ipykernel install --user --name {kernel_name}` in the project's environment"
        ) from None
    # ipykernel logs a transport warning per kernel to our terminal; its errors still show.
    return ["--IPKernelApp.log_level=ERROR"] if any("ipykernel" in a for a in spec.argv) else []


def _export_html(executed: Path, target: Path) -> None:
    from .notebook_html import export_notebook

    # Offline like the report (math as MathML, no CDN script), with a way back to index.html.
    atomic_write_text(target, export_notebook(executed))


@dataclass
class _Job:
    index: int
    source: Path
    parameters: dict[str, Any]
    inspect_error: str | None  # the notebook could not even be read
    alone: str | None = None  # why it runs with no other notebook beside it (it times something)


def default_jobs() -> int:
    """Notebooks executed at once by default: 2 where there are at least 2 cores, else 1.

    Trainings never oversubscribe the machine whatever this is (each takes one of the machine's
    training slots, :mod:`greenkd_lib.engine.slots`); a second notebook fills the gaps with its kernel's
    start, the runs it reads back and its plots."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


def _runs_alone(path: Path) -> str | None:
    """The notebook's ``metadata.greenkd.runs_alone`` (the reason it must run alone), if any."""
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {})
    except (OSError, ValueError, AttributeError):
        return None  # an unreadable notebook fails in papermill, with its own message
    reason = meta.get("greenkd", {}).get("runs_alone") if isinstance(meta, dict) else None
    return str(reason) if reason else None


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` set in this process's environment (which kernels started meanwhile inherit), the
    previous values restored after."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _run_job(job: _Job, hush: Callable[[], None] | None, root: Path, kernel_name: str, kernel_args: list[str],
             jobs: int, progress: Progress, waits: Waits) -> NotebookResult:
    """Execute one notebook; ``hush`` (a job that runs alone): called where its quiet part begins."""
    import papermill

    from .schedule import kernel_manager_class, kernel_threads, register_engine

    stem = job.source.stem
    executed = root / "notebooks" / job.source.name
    html = root / "html" / f"{stem}.html"
    # A stale copy, export or manifest from an earlier run would pass for this run's result.
    for stale in (executed, html, root / "manifest" / f"{stem}.json"):
        stale.unlink(missing_ok=True)
    executed.parent.mkdir(parents=True, exist_ok=True)

    notes = waits.path(job.index, stem)
    progress.started(job.index, stem)
    start = time.perf_counter()
    waited = 0.0
    error = job.inspect_error

    def before_quiet() -> None:
        nonlocal waited
        progress.say(job.index, stem, "waits to run its timing alone")
        began = time.perf_counter()
        hush()
        waited = time.perf_counter() - began
        progress.say(job.index, stem, "times alone")

    if error is None:
        try:
            papermill.execute_notebook(
                str(job.source), str(executed), parameters=job.parameters, kernel_name=kernel_name,
                progress_bar=False, log_output=False, engine_name=register_engine(),
                before_quiet=before_quiet if hush is not None else None,
                kernel_manager_class=kernel_manager_class(kernel_threads(jobs, hush is not None),
                                                          ((WAIT_NOTES_VARIABLE, str(notes)),)),
                # The kernel starts in the notebooks folder, as in JupyterLab. papermill's own
                # ``cwd=`` would os.chdir the whole process, which races between worker threads.
                resources={"metadata": {"path": str(job.source.parent)}},
                extra_arguments=list(kernel_args),
            )
        except Exception as err:  # noqa: BLE001 - one failing notebook must not stop the batch
            error = _describe(err)
    seconds = time.perf_counter() - start - waited  # its own time, not the wait for a quiet machine
    waits.done(notes)

    html_rel = None
    if executed.is_file():
        try:
            _export_html(executed, html)
            html_rel = str(html.relative_to(root))
        except Exception as err:  # noqa: BLE001 - the run result matters more than its HTML copy
            progress.say(job.index, stem, f"HTML export failed: {_describe(err)}")
    status = "ok" if error is None else "FAILED"
    progress.finished(job.index, stem, seconds, f"{status} ({seconds:.1f} s)" + (f": {error}" if error else ""))
    return NotebookResult(
        notebook=stem, status=status, seconds=round(seconds, 2), error=error,
        executed=str(executed.relative_to(root)) if executed.is_file() else None, html=html_rel,
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def _plan(paths: list[Path], offered: dict[str, Any], extra: dict[str, Any]) -> list[_Job]:
    """Each notebook's parameters: only those its ``parameters`` cell declares."""
    import papermill

    jobs, declared_anywhere = [], set()
    for index, path in enumerate(paths, start=1):
        try:
            declared = set(papermill.inspect_notebook(str(path)))
        except Exception as err:  # noqa: BLE001 - reported as this notebook's failure
            jobs.append(_Job(index, path, {}, f"cannot read the notebook: {_describe(err)}"))
            continue
        declared_anywhere |= declared
        jobs.append(_Job(index, path, {k: v for k, v in {**offered, **extra}.items() if k in declared}, None,
                         _runs_alone(path)))
    unknown = sorted(set(extra) - declared_anywhere)
    if unknown:
        # papermill would only warn and run the notebooks without it.
        raise ValueError(
            f"extra parameter(s) {', '.join(map(repr, unknown))} are declared by none of the selected notebooks "
            f"({', '.join(p.stem for p in paths)}); their parameters cells declare: "
            f"{', '.join(sorted(declared_anywhere)) or 'nothing'}"
        )
    return jobs


def _write_summary(root: Path, results: list[NotebookResult], directory: Path, run: dict[str, Any]) -> None:
    """Merge this run into ``summary.json``: notebooks not run now (``--only``) keep their last result."""
    path = root / "summary.json"
    previous: dict[str, dict[str, Any]] = {}
    if path.is_file():
        try:
            previous = {e["notebook"]: e for e in json.loads(path.read_text()).get("notebooks", [])}
        except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
            previous = {}  # a damaged summary is simply rebuilt
    existing = {p.stem for p in directory.glob(_NOTEBOOK_GLOB)}
    merged = {k: v for k, v in previous.items() if k in existing}
    merged.update({r.notebook: asdict(r) for r in results})
    summary = {**run, "notebooks": [merged[k] for k in sorted(merged)]}
    atomic_write_text(path, json.dumps(summary, indent=2))


def _previous_trainings(root: Path) -> dict | None:
    """The last full batch's ``trainings`` block of ``summary.json``, kept through ``--only`` batches."""
    try:
        block = json.loads((root / "summary.json").read_text(encoding="utf-8")).get("trainings")
    except (OSError, ValueError, AttributeError):
        return None
    return block if isinstance(block, dict) else None


def _print_table(results: list[NotebookResult]) -> None:
    width = max(len("notebook"), *(len(r.notebook) for r in results))
    print(f"\n{'notebook':<{width}}  {'status':<6}  {'seconds':>8}  error")
    for r in results:
        print(f"{r.notebook:<{width}}  {r.status:<6}  {r.seconds:>8.1f}  {r.error or ''}")
    print(flush=True)


def reproduce(profile: str = "quick", only: str | None = None, jobs: int | None = None,
              output_root: str | Path | None = None, data_root: str | Path | None = None,
              extra_parameters: dict | None = None, kernel_name: str = "python3",
              directory: str | Path | None = None, executor: str | None = None,
              ray_address: str | None = None, mlflow: bool = False) -> int:
    """Execute the notebooks, export them to HTML, build ``outputs/<profile>/index.html``.

    Returns 0 when every notebook ran, 1 when any failed (the others still run; each failed
    notebook's executed copy keeps its error). ``directory`` defaults to ``notebooks/`` (an installed
    wheel's copy outside a checkout); a folder without ``NN_*.ipynb`` raises :class:`NoNotebooksError`.
    ``executor``: how the notebooks train their runs (their ``executor`` parameter); with "ray" they
    join ``ray_address``'s cluster, else ``$RAY_ADDRESS``'s, else one local Ray started here.
    ``mlflow``: also export the runs and figures to MLflow (``GREENKD_MLFLOW``, :mod:`greenkd_lib.engine.mlflow_sink`).
    """
    get_profile(profile)  # an unknown profile fails here, with the list of known ones
    from ..engine.executors import make_executor

    make_executor(executor, ray_address=ray_address)  # a bad choice fails here, before any notebook
    jobs = default_jobs() if jobs is None else jobs
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a whole number >= 1 (notebooks executed at once), got {jobs!r}")
    if extra_parameters is not None and not isinstance(extra_parameters, dict):
        raise TypeError(f"extra_parameters must be a dict of notebook parameter -> value, got {type(extra_parameters).__name__}")
    nb_dir = Path(directory).expanduser().resolve() if directory is not None else notebooks_dir()
    paths = notebooks(only, nb_dir) if directory is not None else notebooks(only)
    if not paths:
        raise NoNotebooksError(_nothing_to_run(nb_dir, directory is not None))
    kernel_args = _kernel_arguments(kernel_name)

    # Absolute, because the kernel runs in the notebooks folder, not in the caller's.
    out_abs = outputs_root(output_root).resolve()
    offered: dict[str, Any] = {"profile": profile}
    if output_root is not None:
        offered["output_root"] = str(out_abs)
    if data_root is not None:
        offered["data_root"] = str(Path(data_root).expanduser().resolve())
    if executor is not None:
        offered["executor"] = executor
    # The kernels start in the notebooks' folder (an installed wheel's lies in site-packages): they
    # resolve data/ and outputs/ in this process's project folder, not from where they start.
    home = {} if os.environ.get(HOME_VARIABLE, "").strip() else {HOME_VARIABLE: str(project_root())}
    if mlflow:
        home.update(_mlflow_switch(out_abs))
    with _environment(home), _ray_for_kernels(executor, ray_address):
        return _reproduce(profile, paths, offered, extra_parameters, jobs, kernel_name, kernel_args, out_abs, nb_dir,
                          only)


def _mlflow_switch(out_abs: Path) -> dict[str, str]:
    """``GREENKD_MLFLOW`` for the kernels (a URI it names already is kept); a missing extra fails here."""
    from ..engine import mlflow_sink

    value = os.environ.get(mlflow_sink.VARIABLE, "").strip()
    switch = {mlflow_sink.VARIABLE: value if "://" in value else "1"}
    with _environment(switch):
        uri = mlflow_sink.tracking_uri(out_abs)
    print(f"MLflow: runs and figures go to {uri}", flush=True)
    return switch


def _nothing_to_run(folder: Path, given: bool) -> str:
    """Why there is no notebook to run in ``folder``, and what to do."""
    where = f"no notebooks to run: found no {_NOTEBOOK_GLOB} in {folder}"
    if given:
        return f"{where}; pass the folder that holds the numbered notebooks"
    return (f"{where}. Run it inside a greenkd checkout, set {HOME_VARIABLE} to one, or reinstall greenkd from "
            "its wheel or sdist (both ship the notebooks)")


@contextmanager
def _ray_for_kernels(executor: str | None, ray_address: str | None) -> Iterator[None]:
    """With the ray executor, the kernels join one Ray through ``RAY_ADDRESS`` (which ``ray.init``
    reads): ``ray_address``'s cluster, or a local Ray started here for the whole batch (one Ray per
    kernel would each claim every core)."""
    if executor != "ray":
        yield
        return
    from ..engine.executors import RayExecutor, ray_module

    started = None
    if ray_address is None and not os.environ.get("RAY_ADDRESS"):
        joined = ray_module().is_initialized()  # a Ray this process already runs is not ours to stop
        ray = RayExecutor().connect()
        ray_address = ray.get_runtime_context().gcs_address
        started = None if joined else ray
    try:
        with _environment({"RAY_ADDRESS": ray_address or os.environ["RAY_ADDRESS"]}):
            yield
    finally:
        if started is not None:
            started.shutdown()


def _reproduce(profile: str, paths: list[Path], offered: dict[str, Any], extra_parameters: dict | None, jobs: int,
               kernel_name: str, kernel_args: list[str], out_abs: Path, nb_dir: Path, only: str | None) -> int:
    plan = _plan(paths, offered, dict(extra_parameters or {}))
    if profile == "smoke":  # its timings check the pipeline, not the machine: nothing needs a quiet one
        plan = [replace(job, alone=None) for job in plan]
    root = out_abs / profile
    root.mkdir(parents=True, exist_ok=True)

    stems = [job.source.stem for job in plan]
    parameters = dict(extra_parameters or {})
    trainings = Trainings(runs_root(out_abs), profile, expected_trainings(root, profile, parameters))
    progress = Progress(len(plan), Eta(*previous_times(root, stems, jobs), stems), trainings=trainings)
    progress.start_ticking()
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    start = time.perf_counter()
    pm_logger = logging.getLogger("papermill")
    old_level = pm_logger.level
    pm_logger.setLevel(logging.ERROR)  # papermill's per-notebook INFO/WARNING chatter
    with tempfile.TemporaryDirectory(prefix="greenkd-waits-") as notes:
        waits = Waits(Path(notes), progress)
        try:
            results = run_batch(plan, jobs, lambda job, hush: _run_job(job, hush, root, kernel_name, kernel_args,
                                                                        jobs, progress, waits))
        finally:
            waits.close()
            progress.close()
            pm_logger.setLevel(old_level)
    total = time.perf_counter() - start

    _print_table(results)
    _write_summary(root, results, nb_dir, {
        "profile": profile,
        "data_root": offered.get("data_root"),
        "output_root": str(out_abs),
        "only": only,
        "jobs": jobs,
        "executor": offered.get("executor"),
        "kernel": kernel_name,
        "started_at": started_at,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "total_s": round(total, 2),
        # What the next batch expects (its time left): only a batch that ran every notebook knows it.
        "trainings": record(trainings, total, parameters) if only is None else _previous_trainings(root),
    })

    from .report import build_report, format_duration

    report = build_report(profile, out_abs)
    failed = [r.notebook for r in results if r.status != "ok"]
    verdict = f"{len(results) - len(failed)} ok" + (f", {len(failed)} FAILED ({', '.join(failed)})" if failed else "")
    print(f"{len(results)} notebook(s) in {format_duration(total)}: {verdict}\nreport: {report}", flush=True)
    return 1 if failed else 0
