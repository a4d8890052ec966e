"""What ``greenkd info`` reports: versions, device, data sets found, carbon measurement mode."""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["collect", "format_info", "PACKAGES"]

PACKAGES = ("greenkd", "torch", "torchvision", "codecarbon", "grad-cam", "seaborn", "papermill", "jupyterlab",
            "scikit-learn", "pandas", "numpy", "matplotlib")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def collect(data_root: str | Path = "data") -> dict[str, Any]:
    """Everything ``greenkd info`` prints, as a dict."""
    import torch

    from ..carbon import measurement_mode
    from ..data import available
    from ..devices import pick_device

    mode, detail = measurement_mode()
    root = Path(data_root)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {name: _version(name) for name in PACKAGES},
        "device": str(pick_device()),
        "cuda": torch.version.cuda if torch.cuda.is_available() else "not available",
        "torch_threads": torch.get_num_threads(),
        "data_root": str(root.resolve()),
        "datasets": available(root),
        "carbon_mode": mode,
        "carbon_detail": detail,
    }


def format_info(info: dict[str, Any]) -> str:
    lines = [f"greenkd {info['packages']['greenkd']} on Python {info['python']} ({info['platform']})", "", "packages:"]
    lines += [f"  {name:<13} {version}" for name, version in info["packages"].items() if name != "greenkd"]
    lines += ["", f"torch device:  {info['device']} (CUDA: {info['cuda']}; CPU threads: {info['torch_threads']})",
              "", f"data sets under {info['data_root']}:"]
    lines += [f"  {name:<13} {'found' if found else 'missing'}" for name, found in info["datasets"].items()]
    lines += ["", f"carbon:        {info['carbon_mode']} ({info['carbon_detail']})"]
    if info["carbon_mode"] == "estimate":
        lines.append("               energy is estimated, not metered: tables label it as an estimate")
    return "\n".join(lines)
