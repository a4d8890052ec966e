"""Where data and outputs go: GREENKD_HOME, else the checkout holding the cwd, else the installed one."""

from __future__ import annotations

from pathlib import Path

import pytest

from greenkd_lib import paths

INSTALLED = Path(paths.__file__).resolve().parents[1]


def _checkout(folder: Path) -> Path:
    (folder / "notebooks").mkdir(parents=True)
    (folder / "pyproject.toml").write_text('[project]\nname = "greenkd"\nversion = "0"\n')
    return folder


def test_greenkd_home_decides_data_and_outputs(tmp_path, monkeypatch):
    home = tmp_path / "elsewhere"
    home.mkdir()
    monkeypatch.setenv("GREENKD_HOME", str(home))
    monkeypatch.chdir(_checkout(tmp_path / "clone"))  # the variable wins over the cwd's checkout
    assert paths.project_root() == home.resolve()
    assert paths.data_root() == home.resolve() / "data"
    assert paths.runs_root() == home.resolve() / "outputs" / "runs"
    assert paths.data_root(tmp_path / "d") == tmp_path / "d"  # an explicit path still wins
    # Files a checkout ships come from the installed one when the home holds only data and outputs.
    assert paths.paper_dir() == INSTALLED / "data" / "paper"
    assert paths.notebooks_dir() == INSTALLED / "notebooks"
    assert paths.benchmark_results_dir() == INSTALLED / "benchmarks" / "results"  # 00_story's schedule study


def test_a_second_clone_writes_into_itself(tmp_path, monkeypatch):
    monkeypatch.delenv("GREENKD_HOME", raising=False)
    clone = _checkout(tmp_path / "clone").resolve()
    (clone / "data" / "paper").mkdir(parents=True)
    monkeypatch.chdir(clone / "notebooks")  # JupyterLab runs a notebook from notebooks/
    assert paths.project_root() == clone
    assert paths.outputs_root() == clone / "outputs"
    assert paths.paper_dir() == clone / "data" / "paper" and paths.notebooks_dir() == clone / "notebooks"


def test_outside_any_checkout_the_installed_one(tmp_path, monkeypatch):
    monkeypatch.delenv("GREENKD_HOME", raising=False)
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "greenkd-fork"\n')  # not greenkd
    monkeypatch.chdir(tmp_path)
    assert not paths.is_checkout(tmp_path)
    assert paths.project_root() == INSTALLED
    assert paths.is_checkout(INSTALLED)


def test_an_installed_wheel_reads_its_own_copies(tmp_path, monkeypatch):
    """Outside any checkout and with no editable install, notebooks/ and data/paper/ come from the
    copies a wheel ships (greenkd_lib/_shipped/); the working directory is still the project."""
    monkeypatch.delenv("GREENKD_HOME", raising=False)
    packaged = tmp_path / "site-packages" / "greenkd_lib" / "_shipped"
    (packaged / "notebooks").mkdir(parents=True)
    (packaged / "data" / "paper").mkdir(parents=True)
    (packaged / "benchmarks" / "results").mkdir(parents=True)
    monkeypatch.setattr(paths, "_PACKAGED", packaged)
    monkeypatch.setattr(paths, "_installed_root", lambda: None)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert paths.project_root() == work.resolve() and paths.outputs_root() == work.resolve() / "outputs"
    assert paths.notebooks_dir() == packaged / "notebooks" and paths.paper_dir() == packaged / "data" / "paper"
    assert paths.benchmark_results_dir() == packaged / "benchmarks" / "results"
    (work / "notebooks").mkdir()  # the project's own copy wins
    assert paths.notebooks_dir() == work.resolve() / "notebooks"


def test_greenkd_home_must_be_a_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GREENKD_HOME", str(tmp_path / "missing"))
    with pytest.raises(NotADirectoryError, match="GREENKD_HOME"):
        paths.project_root()
