"""The built package on its own: a wheel built from the sdist, installed outside the checkout, reproduces.

The wheel is built as a user's frontend builds it (sdist first, then the wheel from the unpacked sdist,
so MANIFEST.in is checked too), with this environment's setuptools and no network. It goes into a
fresh virtualenv in a temporary folder, which borrows this environment's site-packages for the
dependencies (a .pth line: nothing downloaded, torch not copied; the .pth files there, the editable
install's finder among them, are not run). This environment's editable install is left as it is.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import time
import tomllib
import zipfile
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
# What a build reads from a checkout (setup.py copies notebooks/ and data/paper/ into the wheel).
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "greenkd_lib", "notebooks",
           "data/paper", "benchmarks/results/quick_schedule_study.csv")
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
PAPER_CSVS = sorted(p.name for p in (ROOT / "data" / "paper").glob("*.csv"))
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 180,
         check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, (f"{' '.join(map(str, cmd))} exited {done.returncode}\n--- stdout\n"
                                      f"{done.stdout[-4000:]}\n--- stderr\n{done.stderr[-4000:]}")
    return done


def _setuptools_version() -> tuple[int, ...]:
    from importlib.metadata import version

    return tuple(int(part) for part in version("setuptools").split(".")[:2] if part.isdigit())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """greenkd's wheel, built from its sdist, built from a copy of this checkout (nothing written here)."""
    if _setuptools_version() < (77,):
        pytest.skip("building needs setuptools >= 77 (pyproject.toml's [build-system]); torch 2.14 brings it")
    base = tmp_path_factory.mktemp("build")
    src = base / "src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.pyc", ".ipynb_checkpoints", "_shipped"))
        else:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    hook = "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])"
    _run([sys.executable, "-c", hook, base / "sdist"], cwd=src)
    (archive,) = (base / "sdist").glob("greenkd-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(base / "unpacked", filter="data")
    (unpacked,) = (base / "unpacked").iterdir()
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
          "-w", base / "wheels", unpacked], cwd=base)
    (built,) = (base / "wheels").glob("greenkd-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A fresh virtualenv holding the wheel (its bin/ folder), and the environment to run it in."""
    venv = tmp_path_factory.mktemp("venv") / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv.parent)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    assert purelib.is_dir(), purelib
    # pip runs on the venv's interpreter, which sees nothing installed yet (this environment's greenkd
    # is never a candidate for uninstalling): the wheel alone, no dependencies, no index.
    _run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps", "--no-index",
          "--ignore-installed", "--quiet", wheel], cwd=venv.parent)
    # The dependencies: this environment's site-packages, after the venv's own (so the wheel comes first).
    (purelib / "greenkd-test-dependencies.pth").write_text("".join(f"{p}\n" for p in site.getsitepackages()))
    env = {k: v for k, v in os.environ.items() if k not in ("GREENKD_HOME", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # The dependencies' Jupyter data (nbconvert's HTML templates) lie in this environment's prefix,
    # where an ordinary install of the wheel would have put them into its own.
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(Path(sys.prefix) / "share" / "jupyter"),
                                                        env.get("JUPYTER_PATH")]))
    return venv / "bin", env


@pytest.mark.slow
def test_the_wheel_ships_the_notebooks_the_paper_csvs_and_its_licence(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = set(whl.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = whl.read(metadata).decode()
    assert "05_table2_datasets.ipynb" in NOTEBOOKS and "table4.csv" in PAPER_CSVS
    assert {f"greenkd_lib/_shipped/notebooks/{n}" for n in NOTEBOOKS} <= names
    assert {f"greenkd_lib/_shipped/data/paper/{n}" for n in PAPER_CSVS} <= names
    assert "greenkd_lib/_shipped/benchmarks/results/quick_schedule_study.csv" in names  # 00_story reads it
    assert {"greenkd_lib/batch/templates/report.html.j2", "greenkd_lib/batch/reference.json"} <= names
    assert not any("__pycache__" in n or ".ipynb_checkpoints" in n for n in names)
    assert "License-Expression: MIT" in meta and any(n.endswith("licenses/LICENSE") for n in names)
    assert f"Version: {VERSION}" in meta and "Requires-Python: >=3.11" in meta


@pytest.mark.slow
def test_the_installed_wheel_reproduces_from_any_folder(installed: tuple[Path, dict[str, str]],
                                                         tmp_path: Path) -> None:
    bin_dir, env = installed
    work = tmp_path / "work"  # a folder of the user's, no checkout anywhere above it
    work.mkdir()

    version = _run([bin_dir / "greenkd", "--version"], cwd=work, env=env)
    assert version.stdout.strip() == f"greenkd {VERSION}"
    # The wheel's own package and the paper's tables from its copies, not the checkout's.
    probe = ("import json, greenkd_lib; from greenkd_lib.data.published import headline, table4; "
             "from greenkd_lib.paths import notebooks_dir, paper_dir, project_root; "
             "print(json.dumps({'lib': greenkd_lib.__file__, 'notebooks': str(notebooks_dir()), "
             "'paper': str(paper_dir()), 'project': str(project_root()), 'rows': [len(headline()), len(table4())]}))")
    found = json.loads(_run([bin_dir / "python", "-c", probe], cwd=work, env=env).stdout)
    venv = bin_dir.parent.resolve()
    assert Path(found["lib"]).resolve().is_relative_to(venv), found
    assert Path(found["notebooks"]).is_relative_to(venv) and Path(found["paper"]).is_relative_to(venv), found
    assert Path(found["project"]) == work.resolve()
    assert found["rows"] == [len(pd.read_csv(ROOT / "data" / "paper" / n)) for n in ("headline.csv", "table4.csv")]

    start = time.perf_counter()
    done = _run([bin_dir / "greenkd", "reproduce", "--profile", "smoke", "--only", "05_table2"], cwd=work, env=env,
                timeout=300)
    seconds = time.perf_counter() - start
    assert "05_table2_datasets ... ok" in done.stdout, done.stdout
    root = work / "outputs" / "smoke"  # the working directory's outputs/, as a user expects
    summary = json.loads((root / "summary.json").read_text())
    assert [(r["notebook"], r["status"]) for r in summary["notebooks"]] == [("05_table2_datasets", "ok")]
    for made in ("notebooks/05_table2_datasets.ipynb", "html/05_table2_datasets.html", "tables/table2_datasets.csv",
                 "index.html"):
        assert (root / made).is_file(), f"{made} missing after {seconds:.0f} s:\n{done.stdout}"
    assert "digits" in (root / "tables" / "table2_datasets.csv").read_text()
    # The kernel, started in the wheel's notebooks folder, took the data from the working directory too.
    assert f"found under {work.resolve() / 'data'}" in (root / "notebooks" / "05_table2_datasets.ipynb").read_text()
    # Nothing written beside the wheel's notebooks, where the kernel started.
    shipped = Path(found["notebooks"])
    assert sorted(p.name for p in shipped.iterdir()) == NOTEBOOKS
    assert sorted(p.name for p in shipped.parent.iterdir()) == ["benchmarks", "data", "notebooks"]

    # Nothing to run (a GREENKD_HOME whose notebooks/ is empty): exit 2, saying why and what to do.
    home = tmp_path / "home"
    (home / "notebooks").mkdir(parents=True)
    nothing = _run([bin_dir / "greenkd", "reproduce", "--profile", "smoke"], cwd=work,
                   env={**env, "GREENKD_HOME": str(home)}, check=False)
    assert nothing.returncode == 2, nothing.stdout + nothing.stderr
    assert f"no notebooks to run: found no [0-9][0-9]_*.ipynb in {home.resolve() / 'notebooks'}" in nothing.stderr
    assert "Traceback" not in nothing.stderr and not (home / "outputs").exists()
