"""Table 2: what the data loaders deliver for each data set, beside each data set's documented sizes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from . import available, DOCUMENTED_SIZES
from .bundle import DatasetBundle

__all__ = ["COLUMNS", "PUBLISHERS", "training_augmentation", "load_found", "availability", "loader_table",
           "documented_table", "datasets_table"]

COLUMNS: list[str] = ["data set", "status", "classes", "train", "val", "test", "image", "mean", "std",
                      "train augmentation", "source"]

# Who documents DOCUMENTED_SIZES: facts of the data sets, not numbers of the paper.
PUBLISHERS: dict[str, str] = {
    "digits": "scikit-learn load_digits documentation",
    "cifar10": "CIFAR home page (cs.toronto.edu/~kriz/cifar.html)",
    "cifar100": "CIFAR home page (cs.toronto.edu/~kriz/cifar.html)",
    "tinyimagenet": "tiny-imagenet-200 release (Stanford CS231n); test = its labelled val split",
}


def training_augmentation(transform: Any) -> str:
    """The random steps of a training transform (torchvision v2 Compose), comma-separated, or "none"."""
    steps = [] if transform is None else [t for t in transform.transforms if type(t).__name__.startswith("Random")]
    return ", ".join(type(t).__name__ for t in steps) or "none"


def load_found(labs: Iterable[Any]) -> dict[str, DatasetBundle | None]:
    """Data set name -> the bundle its Lab's runs use (``lab.data()``), or None where its files are missing."""
    out: dict[str, DatasetBundle | None] = {}
    for lab in labs:
        # available() only checks that the files exist; load() checks their contents and may raise.
        out[lab.dataset] = lab.data() if available(lab.data_root)[lab.dataset] else None
    return out


def availability(bundles: Mapping[str, DatasetBundle | None], data_root: str | Path) -> str:
    """One line per data set: found or not, and where it was looked for (digits ships with scikit-learn)."""
    return "\n".join(f"{name:13s} {'found' if bundle is not None else 'not found'}"
                     + ("" if name == "digits" else f" under {data_root}") for name, bundle in bundles.items())


def _row(name: str, bundle: DatasetBundle) -> dict[str, Any]:
    s = bundle.summary()
    return {"data set": name, "status": "found", "classes": s["num_classes"], "train": s["train_size"],
            "val": s["val_size"], "test": s["test_size"], "image": f"{s['image_size']}x{s['image_size']}",
            "mean": ", ".join(f"{m:.4f}" for m in s["mean"]), "std": ", ".join(f"{v:.4f}" for v in s["std"]),
            "train augmentation": training_augmentation(bundle.train.transform), "source": s["source"]}


def loader_table(bundles: Mapping[str, DatasetBundle | None], data_root: str | Path) -> pd.DataFrame:
    """One row per data set (:data:`COLUMNS`): classes, split sizes, image size, normalisation and training
    augmentation as the loader delivers them; a missing data set is a row of dashes saying where it was looked for."""
    rows = []
    for name, bundle in bundles.items():
        if bundle is None:
            rows.append({**dict.fromkeys(COLUMNS, "—"), "data set": name,
                         "status": f"not found under {data_root} — see data/README.md"})
        else:
            rows.append(_row(name, bundle))
    return pd.DataFrame(rows, columns=COLUMNS)


def documented_table() -> pd.DataFrame:
    """Every data set of ``DOCUMENTED_SIZES`` as its publisher documents it: classes, train, test, image side, by whom."""
    return pd.DataFrame([
        {"data set": name, "documented classes": c, "documented train": n_train,
         "documented test": n_test if n_test else "no official split", "documented image": f"{side}x{side}",
         "documented by": PUBLISHERS.get(name, "")}
        for name, (c, n_train, n_test, side) in DOCUMENTED_SIZES.items()])


def datasets_table(ours: pd.DataFrame, used: str) -> pd.DataFrame:
    """Table 2: :func:`loader_table` rows beside :func:`documented_table`, and which data set the runs use (``used``)."""
    table = ours.merge(documented_table(), on="data set", how="left")
    table["used by this profile's runs"] = table["data set"].eq(used).map({True: "yes", False: ""})
    return table
