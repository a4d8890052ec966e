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
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment, PackageLoader
from markupsafe import escape, Markup

from ..config.profiles import get_profile, Profile
from ..paths import outputs_root
from ..runs.atomic import atomic_write_bytes

__all__ = ["build_report", "format_duration", "short_caption", "png_size", "add_back_link", "BEYOND_THE_PAPER"]

BEYOND_THE_PAPER = "Beyond the paper"  # the label of NN_ablation_* notebooks
_BEYOND_PREFIX = "ablation_"
_STEM = re.compile(r"^(?P<num>\d+)_(?:(?P<kind>fig|table)(?P<no>\d+)_)?(?P<slug>.*)$")
TEMPLATE = "report.html.j2"  # in greenkd_lib/batch/templates/, shipped as package data
PAGE_PX = 1180  # the page's max width; what is left after its padding is the column tables must fit
_COLUMN_PX = PAGE_PX - 48
_CHAR_EM = 0.56  # the mean width of a character of table text, in em (measured in Chromium, system-ui)
LONG_CELL = 32  # text cells longer than this may wrap (between words); shorter ones never do
_CAPTION_CHARS = 100  # a caption shortened for the contents list
# One level of nesting covers "(mean +- std over 2 seed(s))"; "seed(s)" itself has no space before it.
_ASIDE = re.compile(r"\s+\((?:[^()]|\([^()]*\))*\)")
_BREAKABLE = re.compile(r"(\S*[-‐–—/>]\S*)")  # a word a browser could break inside (after a hyphen or slash)
_BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BACK_CLASS = "greenkd-back"


@dataclass
class _Table:
    columns: list[tuple[str, bool]]  # (header, numeric)
    rows: list[list[str]]
    min_chars: list[int] = field(default_factory=list)  # per column, a floor for wide tables (_min_chars)
    wide: bool = False  # probably wider than the page's column: the page says it scrolls


@dataclass
class _Item:
    kind: str  # "figure" | "table"
    name: str
    caption: str
    anchor: str
    short: str = ""  # the caption shortened for the contents list
    image: str | None = None  # relative URLs
    size: tuple[int, int] | None = None  # the image's pixels (width, height)
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, url)
    table: _Table | None = None
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


def _url(relative: str) -> str:
    return quote(relative.replace("\\", "/"), safe="/")


def _anchor(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "item"


def _fmt(value: Any, whole: bool) -> str:
    """A number as a reader wants it: whole numbers whole, others with 2 decimals or 3 digits."""
    if isinstance(value, float):
        if math.isnan(value):
            return "—"
        if whole:
            return str(int(value))
        return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"
    return str(value)


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


def png_size(path: Path) -> tuple[int, int] | None:
    """A PNG's (width, height) in pixels from its header; ``None`` if it is not a readable PNG."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return None
    # The 8-byte signature, then the IHDR chunk: length, b"IHDR", width and height (big-endian).
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    width, height = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return (width, height) if width and height else None


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


def _nobreak(text: Any) -> Markup:
    """Escaped text that breaks between words only, never inside ``kd-tuned`` or ``->``."""
    parts = _BREAKABLE.split(str(text))
    return Markup("").join(
        Markup('<span class="nb">{}</span>').format(p) if i % 2 and len(p) > 1 else escape(p)
        for i, p in enumerate(parts))


def _min_chars(header: str, cells: list[str], header_lines: int | None = None) -> int:
    """The narrowest a column gets, in characters: a short cell or a number on one line, a long text
    cell within 18 to 42, the header at its longest word (or in ``header_lines`` lines at most)."""
    widths = [max((len(w) for w in header.split()), default=1)]
    if header_lines:
        widths.append(math.ceil(len(header) / header_lines))
    widths += [len(c) if len(c) <= LONG_CELL else min(max(math.ceil(len(c) / 2), 18), 42) for c in cells]
    return max(widths)


def _table_px(min_chars: list[int]) -> int:
    """A rough width of a table whose columns are this many characters wide, as the page lays it out."""
    char_px, pad_px = _CHAR_EM * 14.72, 23  # table text is .92rem = 14.72 px; .7rem of padding each side
    return int(sum(chars * char_px + pad_px for chars in min_chars))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _read_table(csv: Path) -> _Table:
    df = pd.read_csv(csv)
    columns, formatters = [], []
    for name in df.columns:
        col = df[name]
        numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
        finite = col[col.notna()] if numeric else col.iloc[:0]
        # A float column that only holds whole numbers (counts that gained a NaN) prints as integers.
        whole = numeric and bool(len(finite)) and bool(((finite % 1) == 0).all()) and bool((finite.abs() < 1e15).all())
        columns.append((str(name), numeric))
        formatters.append(whole)
    rows = [[_fmt(v, w) for v, w in zip(row, formatters)] for row in df.astype(object).itertuples(index=False)]
    table = _Table(columns=columns, rows=rows)
    columns_cells = [(name, [row[j] for row in rows]) for j, (name, _) in enumerate(columns)]
    # Measured in Chromium (the quick report): tables estimated at 0.98 and 0.99 of the column overflowed
    # by 5 and 42 px, one at 0.95 fitted; a table marked wide that fits only shows a hint it did not need.
    table.wide = _table_px([_min_chars(h, c) for h, c in columns_cells]) > 0.97 * _COLUMN_PX
    if table.wide:
        # A table that scrolls anyway would squeeze each column to its longest word (headers one word
        # a line, long cells a word or two a line): a floor keeps headers to two lines.
        table.min_chars = [_min_chars(h, c, header_lines=2) for h, c in columns_cells]
    return table


def _first_heading(executed: Path) -> str | None:
    """The notebook's first Markdown heading, without its ``#``."""
    try:
        cells = json.loads(executed.read_text(encoding="utf-8")).get("cells", [])
    except (OSError, ValueError, AttributeError):
        return None
    for cell in cells:
        if cell.get("cell_type") != "markdown":
            continue
        source = cell.get("source", "")
        for line in (source if isinstance(source, str) else "".join(source)).splitlines():
            if line.startswith("#"):
                title = line.lstrip("#").strip()
                if title:
                    return re.sub(r"[*_`]", "", title)
    return None


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
    elif kind == "table":
        csvs = [f for f in present if f.lower().endswith(".csv")]
        if csvs:
            try:
                item.table = _read_table(root / csvs[0])
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
        title = _first_heading(executed) if executed.is_file() else None
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
        ))
    return sections


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
    env = Environment(loader=PackageLoader("greenkd_lib.batch", "templates"), autoescape=True,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=_when, duration=format_duration, nobreak=_nobreak)
    page = env.get_template(TEMPLATE).render(
        page_px=PAGE_PX,
        long_cell=LONG_CELL,
        char_em=_CHAR_EM,
        title=f"greenkd — {profile} profile",
        profile=profile,
        banner_class=banner_class,
        banner=banner,
        run={k: v for k, v in summary.items() if k != "notebooks"},
        sections=_sections(root, summary),
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
