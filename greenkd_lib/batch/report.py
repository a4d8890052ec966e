"""The HTML report ``outputs/<profile>/index.html``: run summary, then every figure and table.

It is built from what the notebooks left under ``outputs/<profile>/`` (``summary.json``,
``manifest/*.json``, ``figures/``, ``tables/``, ``html/``, ``notebooks/``) and links to those files
by relative paths, so the folder can be zipped or served as is. One file, inline CSS, no scripts:
it opens offline. The page itself is the Jinja template ``templates/report.html.j2``; this module
gathers what it shows.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from ..config.profiles import get_profile, Profile
from ..paths import outputs_root
from ..runs.atomic import atomic_write_bytes
from .layout import (CHAR_EM, COLUMN_PX, figure_width, LONG_CELL, MIN_FIGURE_SCALE, MIN_TEXT_PX, nobreak, PAGE_PX,
                     png_dpi, png_size, read_table, Table, WINDOW_PX)

__all__ = ["build_report", "format_duration", "short_caption", "png_size", "png_dpi", "figure_width", "add_back_link",
           "BEYOND_THE_PAPER", "MIN_TEXT_PX", "MIN_FIGURE_SCALE"]

BEYOND_THE_PAPER = "Beyond the paper"  # the label of NN_ablation_* notebooks
_BEYOND_PREFIX = "ablation_"
_STEM = re.compile(r"^(?P<num>\d+)_(?:(?P<kind>fig|table)(?P<no>\d+)_)?(?P<slug>.*)$")
TEMPLATE = "report.html.j2"  # in greenkd_lib/batch/templates/, shipped as package data
_CAPTION_CHARS = 100  # a caption shortened for the contents list
# One level of nesting covers "(mean +- std over 2 seed(s))"; "seed(s)" itself has no space before it.
_ASIDE = re.compile(r"\s+\((?:[^()]|\([^()]*\))*\)")
_BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BACK_CLASS = "greenkd-back"
# Notebook parameters that say where and on what a notebook ran, not what it computed: any other
# parameter a batch gave (overrides, seeds, data sets, ...) changes the numbers, and the page says so.
_PLUMBING = frozenset({"profile", "output_root", "data_root", "executor", "device"})


@dataclass
class _Item:
    kind: str  # "figure" | "table"
    name: str
    caption: str
    anchor: str
    short: str = ""  # the caption shortened for the contents list
    image: str | None = None  # relative URLs
    size: tuple[int, int] | None = None  # the image's pixels (width, height)
    shown: int | None = None  # the width the page shows it at, in CSS px (figure_width)
    wide: bool = False  # shown wider than the column
    scrolls: bool = False  # wider than a window of WINDOW_PX: the page says it scrolls
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url)
    table: Table | None = None
    problem: str | None = None  # a missing or unreadable file


@dataclass
class _Section:
    stem: str
    title: str
    label: str | None  # "Fig 3", "Table 1"
    anchor: str
    status: str | None  # "ok", "FAILED" or None (not run by greenkd reproduce)
    seconds: float | None
    error: str | None
    finished_at: str | None
    links: list[tuple[str, str]]
    items: list[_Item]
    problem: str | None = None
    changed: list[str] = field(default_factory=list)  # the parameters it ran with that change its numbers


def _url(relative: str) -> str:
    return quote(relative.replace("\\", "/"), safe="/")


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "item"


def _when(iso: Any) -> str:
    """An ISO timestamp as ``2025-05-01 14:03 UTC``."""
    try:
        return datetime.fromisoformat(str(iso)).astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(iso) if iso else "?"


def format_duration(seconds: Any) -> str:
    """Seconds as ``3 min 12 s`` or ``4.2 s``; anything that is not a number as ``""``."""
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return ""
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)} min {secs:02.0f} s" if minutes else f"{secs:.1f} s"


def short_caption(caption: str, limit: int = _CAPTION_CHARS) -> str:
    """A caption cut to its first clause without asides in parentheses, at most ``limit`` characters."""
    # Captions end with their provenance "(digits, quick profile, ...)" and qualify as they go: the
    # contents list needs only what the item is.
    text = " ".join(_ASIDE.sub("", caption).split(";")[0].split()).strip(" ,:.")
    if not text:
        text = " ".join(caption.split())
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(" ,:;.-") + "…"
    return text


def add_back_link(html_text: str, href: str = "../index.html", label: str = "Back to the report") -> str:
    """An exported notebook page with a link back to the report at the top of its body (added once)."""
    if f'class="{_BACK_CLASS}"' in html_text:
        return html_text
    # Inline style: the page's own stylesheet is nbconvert's, which knows nothing of this bar.
    bar = Markup(
        '<nav class="{cls}" style="font:15px/1.5 system-ui,-apple-system,\'Segoe UI\',Roboto,Arial,sans-serif;'
        "padding:.5rem 1rem;margin:0 0 .5rem;background:#f5f7fa;border-bottom:1px solid #dde1e7\">"
        '<a href="{href}" style="color:#1f5fae;text-decoration:none">&larr; {label}</a></nav>\n'
    ).format(cls=_BACK_CLASS, href=href, label=label)
    body = _BODY.search(html_text)
    at = body.end() if body else 0
    return html_text[:at] + ("\n" if body else "") + str(bar) + html_text[at:]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _read_notebook(path: Path) -> dict[str, Any]:
    """An executed notebook's JSON; ``{}`` if it is missing or unreadable (the page shows what it can)."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return notebook if isinstance(notebook, dict) else {}


def _first_heading(notebook: dict[str, Any]) -> str | None:
    """The notebook's first Markdown heading, without its ``#``."""
    cells = notebook.get("cells", [])
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        for line in (source if isinstance(source, str) else "".join(source)).splitlines():
            if line.startswith("#"):
                title = line.lstrip("#").strip()
                if title:
                    return re.sub(r"[*_`]", "", title)
    return None


def _positive(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else None


def _shown(value: Any) -> str:
    """A parameter's value as it was written on the command line (YAML-like: ``[0, 1]``, ``cifar10``)."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _changed_parameters(notebook: dict[str, Any]) -> list[str]:
    """The parameters papermill gave this executed notebook that change what it computes, e.g.
    ``overrides: epochs = 8`` (one entry per overridden profile field) or ``seeds = [0]``."""
    papermill = notebook.get("metadata", {}).get("papermill", {}) if isinstance(notebook.get("metadata"), dict) else {}
    parameters = papermill.get("parameters", {}) if isinstance(papermill, dict) else {}
    changed = []
    for name, value in (parameters.items() if isinstance(parameters, dict) else []):
        if name in _PLUMBING or value is None:  # None: the notebook's own default
            continue
        if name == "overrides" and isinstance(value, dict):
            changed += [f"overrides: {field} = {_shown(v)}" for field, v in value.items()]
        else:
            changed.append(f"{name} = {_shown(value)}")
    return changed


def _describe_stem(stem: str) -> tuple[str, str | None]:
    """``03_fig3_tau_sensitivity`` -> ("tau sensitivity", "Fig 3");
    ``13_ablation_why_random_tau`` -> ("why random tau", "Beyond the paper")."""
    m = _STEM.match(stem)
    if not m:
        return stem.replace("_", " "), None
    label, slug = None, m["slug"]
    if m["kind"]:
        label = f"{'Fig' if m['kind'] == 'fig' else 'Table'} {int(m['no'])}"
    elif slug.startswith(_BEYOND_PREFIX) and len(slug) > len(_BEYOND_PREFIX):
        # Notebooks that ask what the paper does not (ablations) come after its figures and tables.
        label, slug = BEYOND_THE_PAPER, slug[len(_BEYOND_PREFIX):]
    return (slug.replace("_", " ") or stem), label


def _without_label(title: str, label: str | None) -> str:
    """``Fig 1: the carbon footprint`` under the label "Fig 1" -> ``The carbon footprint`` (the label shows anyway)."""
    kind, _, number = (label or "").partition(" ")
    word = {"Fig": r"fig(?:ure|\.)?", "Table": r"table"}.get(kind)
    if not word or not number.isdigit():
        return title
    m = re.match(rf"{word}\s*{number}(?!\d)\s*[:.—–-]?\s*", title, re.IGNORECASE)
    rest = title[m.end():] if m else ""
    return rest[0].upper() + rest[1:] if rest else title


def _sort_key(stem: str) -> tuple[int, str]:
    m = re.match(r"^(\d+)_", stem)
    return (int(m.group(1)) if m else 10**9, stem)


def _item(root: Path, raw: dict[str, Any], used: set[str]) -> _Item:
    kind, name = str(raw.get("kind", "")), str(raw.get("name", "?"))
    anchor = _anchor(f"{kind}-{name}")
    while anchor in used:
        anchor += "-x"
    used.add(anchor)
    caption = str(raw.get("caption", ""))
    item = _Item(kind=kind, name=name, caption=caption, anchor=anchor, short=short_caption(caption) or name)
    files = [str(f) for f in raw.get("files", [])]
    missing = [f for f in files if not (root / f).is_file()]
    present = [f for f in files if f not in missing]
    if kind == "figure":
        pngs = [f for f in present if f.lower().endswith(".png")]
        item.image = _url(pngs[0]) if pngs else None
        item.size = png_size(root / pngs[0]) if pngs else None
        if item.size:
            item.shown = figure_width(item.size, png_dpi(root / pngs[0]), _positive(raw.get("text_pt")))
            item.wide, item.scrolls = item.shown > COLUMN_PX, item.shown > WINDOW_PX
    elif kind == "table":
        csvs = [f for f in present if f.lower().endswith(".csv")]
        if csvs:
            try:
                item.table = read_table(root / csvs[0])
            except (ValueError, OSError, pd.errors.ParserError) as err:
                item.problem = f"cannot read {csvs[0]}: {err}"
    else:
        item.problem = f"unknown kind {kind!r} in the manifest"
    item.links = [(Path(f).suffix.lstrip(".").upper() or f, _url(f)) for f in present]
    if missing:
        item.problem = "missing file(s): " + ", ".join(missing)
    return item


def _sections(root: Path, summary: dict[str, Any]) -> list[_Section]:
    runs = {e["notebook"]: e for e in summary.get("notebooks", []) if isinstance(e, dict) and "notebook" in e}
    manifests: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    for path in sorted((root / "manifest").glob("*.json")):
        try:
            manifests[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            manifests[path.stem], problems[path.stem] = {}, f"unreadable manifest {path.name}: {err}"
    sections, used = [], set()
    for stem in sorted(set(runs) | set(manifests), key=_sort_key):
        run = runs.get(stem, {})
        slug_title, label = _describe_stem(stem)
        executed = root / "notebooks" / f"{stem}.ipynb"
        notebook = _read_notebook(executed) if executed.is_file() else {}
        title = _first_heading(notebook)
        links = []
        if (root / "html" / f"{stem}.html").is_file():
            links.append(("HTML", _url(f"html/{stem}.html")))
        if executed.is_file():
            links.append(("notebook (.ipynb)", _url(f"notebooks/{stem}.ipynb")))
        items = [_item(root, raw, used) for raw in manifests.get(stem, {}).get("items", []) if isinstance(raw, dict)]
        sections.append(_Section(
            stem=stem, title=_without_label(title or slug_title, label), label=label, anchor=_anchor(f"nb-{stem}"),
            status=run.get("status"), seconds=run.get("seconds"), error=run.get("error"),
            finished_at=run.get("finished_at"), links=links, items=items, problem=problems.get(stem),
            changed=_changed_parameters(notebook),
        ))
    return sections


def _changed_banner(sections: list[_Section]) -> list[tuple[str, str]]:
    """(setting, which notebooks) for each parameter some notebook ran with that changes its numbers,
    in the order first seen; empty when every notebook ran as its profile says."""
    ran = [s for s in sections if s.status is not None or s.changed]
    where: dict[str, list[str]] = {}
    for section in ran:
        for setting in section.changed:
            where.setdefault(setting, []).append(section.stem)
    return [(setting, f"all {len(ran)} notebooks" if len(stems) == len(ran) > 1 else ", ".join(stems))
            for setting, stems in where.items()]


def _banner(profile: Profile, data_root: str | None) -> tuple[str, list[str]]:
    """(css class, paragraphs) telling the reader which numbers these are."""
    seeds = ", ".join(map(str, profile.seeds))
    if profile.dataset is None:
        return "paper", [
            f"Paper profile: the paper's recipe ({profile.epochs} epochs, batch size {profile.batch_size}, "
            f"seeds {seeds}) on the data set each figure or table used in the paper, "
            f"read from {data_root or 'data/'}.",
            "These numbers are comparable with the paper's; its published numbers are in data/paper/.",
        ]
    data = profile.dataset
    if data == "digits":
        data = "the embedded digits data set (scikit-learn's 8×8 handwritten digits"
        data += f", upsampled to {profile.image_size}×{profile.image_size} px)" if profile.image_size else ")"
    scale = _plural(profile.epochs, "epoch")
    if profile.max_batches:
        scale += f" of at most {profile.max_batches} batches"
    if profile.subset:
        scale += f", at most {profile.subset} samples per split"
    purpose = ("a check that every notebook runs end to end (tiny trainings; the whole batch takes minutes)"
               if profile.name == "smoke" else "a laptop-sized rerun")
    return "scaled", [
        f"{profile.name.capitalize()} profile — {purpose}: every model is trained on {data} "
        f"instead of the paper's data sets, for {scale}, {'seed' if len(profile.seeds) == 1 else 'seeds'} {seeds}.",
        ("These numbers are NOT the paper's, and mean nothing: this profile only checks that the code runs. "
         if profile.name == "smoke" else
         "These numbers are NOT the paper's: they show how the experiments behave at small scale. ")
        + "The paper's published numbers are in data/paper/; the paper profile "
        "(greenkd reproduce --profile paper) reruns its experiments at full scale.",
    ]


def build_report(profile: str, output_root: str | Path | None = None) -> Path:
    """Write ``outputs/<profile>/index.html`` from what the notebooks saved; return its path."""
    spec = get_profile(profile)  # an unknown profile fails here, with the list of known ones
    root = outputs_root(output_root) / profile
    if not root.is_dir():
        raise FileNotFoundError(
            f"no outputs for the {profile!r} profile under {root}; run `greenkd reproduce --profile {profile}` first"
        )
    summary: dict[str, Any] = {}
    if (root / "summary.json").is_file():
        try:
            summary = json.loads((root / "summary.json").read_text(encoding="utf-8"))
        except ValueError:
            summary = {}  # shown as "not run by greenkd reproduce" rather than failing the report
    banner_class, banner = _banner(spec, summary.get("data_root"))
    sections = _sections(root, summary)
    env = Environment(loader=PackageLoader("greenkd_lib.batch", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=_when, duration=format_duration, nobreak=nobreak)
    page = env.get_template(TEMPLATE).render(
        page_px=PAGE_PX,
        long_cell=LONG_CELL,
        char_em=CHAR_EM,
        title=f"greenkd — {profile} profile",
        profile=profile,
        banner_class=banner_class,
        banner=banner,
        run={k: v for k, v in summary.items() if k != "notebooks"},
        sections=sections,
        changed=_changed_banner(sections),
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        version=_version(),
    )
    path = root / "index.html"
    atomic_write_bytes(path, page.encode("utf-8"))
    return path


def _version() -> str:
    """The installed greenkd's version (the batch reads it from the package's metadata)."""
    try:
        return importlib.metadata.version("greenkd")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"
