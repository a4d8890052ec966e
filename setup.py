"""Ships the notebooks and the paper's CSVs inside the wheel; everything else is in pyproject.toml.

A checkout keeps ``notebooks/`` and ``data/paper/`` where they are (the one copy in git). Building a
wheel copies them into ``greenkd_lib/_shipped/`` (``notebooks/*.ipynb``, ``data/paper/*.csv``, the schedule
study in ``benchmarks/results/`` that 00_story reads), where
``greenkd_lib.paths`` finds them on an installed copy, so that ``greenkd reproduce`` and the paper's
tables work outside a checkout. An editable install copies nothing: it reads the checkout itself.
MANIFEST.in puts the same files into the sdist, so a wheel built from the sdist ships them too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PACKAGED = ("greenkd_lib", "_shipped")  # greenkd_lib/paths.py reads the same folder
SHIPPED = {"notebooks": "*.ipynb", "data/paper": "*.csv",
           "benchmarks/results": "quick_schedule_study.csv"}  # 00_story reads the quick profile's schedule study  # folder of the checkout -> the files it ships


def shipped_files() -> list[tuple[str, Path]]:
    """(path under greenkd_lib/_shipped, source file) for every file the wheel ships from the checkout."""
    files = []
    for folder, pattern in SHIPPED.items():
        found = sorted(p for p in (HERE / folder).glob(pattern) if p.is_file())
        if not found:
            raise FileNotFoundError(f"no {folder}/{pattern} under {HERE}: build greenkd from a checkout or from "
                                    f"its sdist, which hold the notebooks and the paper's CSVs")
        files += [(f"{folder}/{p.name}", p) for p in found]
    return files


class BuildPyWithShipped(build_py):
    """build_py, plus the checkout's notebooks and paper CSVs copied into greenkd_lib/_shipped/."""

    def _targets(self) -> list[tuple[Path, Path]]:
        root = Path(self.build_lib, *PACKAGED)
        return [(root / relative, source) for relative, source in shipped_files()]

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the editable install reads notebooks/ and data/paper/ in the checkout
            return
        shutil.rmtree(Path(self.build_lib, *PACKAGED), ignore_errors=True)  # nothing stale from an earlier build
        for target, source in self._targets():
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return [*outputs, *(str(target) for target, _ in self._targets())]


setup(cmdclass={"build_py": BuildPyWithShipped})
