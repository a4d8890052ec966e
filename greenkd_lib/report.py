"""The HTML report ``outputs/<profile>/index.html``: run summary, then every figure and table.

It is built from what the notebooks left under ``outputs/<profile>/`` (``summary.json``,
``manifest/*.json``, ``figures/``, ``tables/``, ``html/``, ``notebooks/``) and links to those files
by relative paths, so the folder can be zipped or served as is. One file, inline CSS, no scripts:
it opens offline.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from jinja2 import Environment

from . import __version__
from .outputs import _atomic_write
from .paths import outputs_root
from .profiles import Profile, get_profile

__all__ = ["build_report"]

BEYOND_THE_PAPER = "Beyond the paper"  # the label of NN_ablation_* notebooks
_BEYOND_PREFIX = "ablation_"
_STEM = re.compile(r"^(?P<num>\d+)_(?:(?P<kind>fig|table)(?P<no>\d+)_)?(?P<slug>.*)$")


@dataclass
class _Table:
    columns: list[tuple[str, bool]]  # (header, numeric)
    rows: list[list[str]]


@dataclass
class _Item:
    kind: str  # "figure" | "table"
    name: str
    caption: str
    anchor: str
    image: str | None = None  # relative URLs
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


def _duration(seconds: Any) -> str:
    try:
        seconds = float(seconds)
    except (TypeError, ValueError):
        return ""
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)} min {secs:02.0f} s" if minutes else f"{secs:.1f} s"


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
    return _Table(columns=columns, rows=rows)


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


def _sort_key(stem: str) -> tuple[int, str]:
    m = re.match(r"^(\d+)_", stem)
    return (int(m.group(1)) if m else 10**9, stem)


def _item(root: Path, raw: dict[str, Any], used: set[str]) -> _Item:
    kind, name = str(raw.get("kind", "")), str(raw.get("name", "?"))
    anchor = _anchor(f"{kind}-{name}")
    while anchor in used:
        anchor += "-x"
    used.add(anchor)
    item = _Item(kind=kind, name=name, caption=str(raw.get("caption", "")), anchor=anchor)
    files = [str(f) for f in raw.get("files", [])]
    missing = [f for f in files if not (root / f).is_file()]
    present = [f for f in files if f not in missing]
    if kind == "figure":
        pngs = [f for f in present if f.lower().endswith(".png")]
        item.image = _url(pngs[0]) if pngs else None
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
            stem=stem, title=title or slug_title, label=label, anchor=_anchor(f"nb-{stem}"),
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
    purpose = "a seconds-long check that everything runs" if profile.name == "smoke" else "a laptop-sized rerun"
    return "scaled", [
        f"{profile.name.capitalize()} profile — {purpose}: every model is trained on {data} "
        f"instead of the paper's data sets, for {scale}, {'seed' if len(profile.seeds) == 1 else 'seeds'} {seeds}.",
        ("These numbers are NOT the paper's, and mean nothing: this profile only checks that the code runs. "
         if profile.name == "smoke" else
         "These numbers are NOT the paper's: they show how the experiments behave at small scale. ")
        + "The paper's published numbers are in data/paper/; the paper profile "
        "(greenkd reproduce --profile paper) reruns its experiments at full scale.",
    ]


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
:root { --fg:#1d2430; --muted:#5b6473; --line:#dde1e7; --bg:#fff; --soft:#f5f7fa;
        --ok:#1f7a3d; --bad:#b3261e; --badbg:#fdecea; --warnbg:#fff6db; --warnline:#e0b100;
        --infobg:#e8f1fb; --infoline:#2f6db5; --link:#1f5fae; }
* { box-sizing: border-box; }
body { margin:0; color:var(--fg); background:var(--bg);
       font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
main { max-width:1080px; margin:0 auto; padding:2rem 1.5rem 4rem; }
h1 { font-size:2rem; margin:0 0 .25rem; letter-spacing:-.01em; }
h2 { font-size:1.45rem; margin:3rem 0 .75rem; padding-bottom:.3rem; border-bottom:2px solid var(--line); }
h3 { font-size:1.1rem; margin:2rem 0 .5rem; }
a { color:var(--link); text-decoration:none; } a:hover { text-decoration:underline; }
.sub { color:var(--muted); margin:0 0 1.25rem; }
.banner { border-left:5px solid var(--warnline); background:var(--warnbg); padding:.8rem 1rem; border-radius:4px; }
.banner.paper { border-color:var(--infoline); background:var(--infobg); }
.banner p { margin:.2rem 0; }
.meta { color:var(--muted); font-size:.9rem; margin:.75rem 0 0; }
nav.toc { background:var(--soft); border:1px solid var(--line); border-radius:6px; padding:.75rem 1.25rem; margin:1.5rem 0; }
nav.toc ol { margin:.3rem 0; padding-left:1.4rem; } nav.toc li { margin:.15rem 0; }
nav.toc ol ol { font-size:.92rem; }
table { border-collapse:collapse; font-size:.92rem; font-variant-numeric:tabular-nums; }
th, td { padding:.35rem .7rem; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { background:var(--soft); font-weight:600; }
.num { text-align:right; }
tr.failed td { background:var(--badbg); }
.status { font-weight:600; white-space:nowrap; }
.status.ok { color:var(--ok); } .status.FAILED { color:var(--bad); } .status.none { color:var(--muted); font-weight:400; }
.error { color:var(--bad); font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:.85rem; }
.failbox { border:1px solid var(--bad); background:var(--badbg); color:var(--bad); border-radius:4px; padding:.6rem .9rem; margin:.5rem 0 1rem; }
.label { display:inline-block; font-size:.8rem; font-weight:600; color:#fff; background:var(--infoline);
         border-radius:3px; padding:.05rem .45rem; margin-right:.5rem; vertical-align:.15em; }
.links { font-size:.88rem; color:var(--muted); } .links a { margin-right:.6rem; }
figure { margin:1rem 0 2rem; }
figure img { max-width:100%; height:auto; border:1px solid var(--line); border-radius:4px; background:#fff; }
figcaption, .caption { color:var(--fg); font-size:.95rem; margin:.4rem 0; max-width:75ch; }
.caption { margin-bottom:.5rem; }
.table-wrap { overflow-x:auto; margin-bottom:.4rem; }
.empty { color:var(--muted); font-style:italic; }
footer { color:var(--muted); font-size:.85rem; margin-top:4rem; border-top:1px solid var(--line); padding-top:1rem; }
</style>
</head>
<body>
<main>
<h1>{{ title }}</h1>
<p class="sub">Companion to Rafat et al., “Mitigating carbon footprint for knowledge distillation based deep
learning model compression”, PLOS ONE 18(5): e0285668, 2023.</p>

<div class="banner {{ banner_class }}">{% for p in banner %}<p>{{ p }}</p>{% endfor %}</div>
{% if run %}<p class="meta">Last run: finished {{ run.finished_at|when }}{% if run.total_s is not none %}, took {{ run.total_s|duration }}{% endif %}{% if run.only %}, only notebooks matching “{{ run.only }}”{% endif %};
kernel {{ run.kernel or "?" }}, {{ run.jobs or 1 }} at once; data root {{ run.data_root or "the project's data/" }}.</p>{% endif %}

<nav class="toc"><strong>Contents</strong>
<ol>
<li><a href="#run-summary">Run summary</a></li>
{% for s in sections %}<li><a href="#{{ s.anchor }}">{% if s.label %}{{ s.label }} · {% endif %}{{ s.title }}</a>
{% if s.status == "FAILED" %} <span class="status FAILED">FAILED</span>{% endif %}
{% if s.items %}<ol>{% for i in s.items %}<li><a href="#{{ i.anchor }}">{{ i.kind|capitalize }}: {{ i.name }}</a></li>{% endfor %}</ol>{% endif %}
</li>
{% endfor %}</ol>
</nav>

<h2 id="run-summary">Run summary</h2>
{% if sections %}
<div class="table-wrap"><table>
<thead><tr><th>Notebook</th><th>Status</th><th class="num">Time</th><th>Outputs</th><th>Error</th></tr></thead>
<tbody>
{% for s in sections %}<tr{% if s.status == "FAILED" %} class="failed"{% endif %}>
<td><a href="#{{ s.anchor }}">{{ s.stem }}</a></td>
<td><span class="status {{ s.status or 'none' }}">{{ s.status or "not run by greenkd reproduce" }}</span></td>
<td class="num">{% if s.seconds is not none %}{{ s.seconds|duration }}{% endif %}</td>
<td class="links">{% for label, url in s.links %}<a href="{{ url }}">{{ label }}</a>{% endfor %}</td>
<td class="error">{{ s.error or "" }}</td>
</tr>
{% endfor %}</tbody></table></div>
{% else %}<p class="empty">No notebook has run for this profile yet: run <code>greenkd reproduce --profile {{ profile }}</code>.</p>{% endif %}

{% for s in sections %}
<h2 id="{{ s.anchor }}">{% if s.label %}<span class="label">{{ s.label }}</span>{% endif %}{{ s.title }}</h2>
<p class="links"><code>{{ s.stem }}</code> · <span class="status {{ s.status or 'none' }}">{{ s.status or "not run by greenkd reproduce" }}</span>
{% if s.seconds is not none %} · {{ s.seconds|duration }}{% endif %}
{% for label, url in s.links %} · <a href="{{ url }}">{{ label }}</a>{% endfor %}</p>
{% if s.status == "FAILED" %}<div class="failbox"><strong>This notebook failed</strong>{% if s.error %}: <span class="error">{{ s.error }}</span>{% endif %}.
Anything below is what it saved before failing; the executed notebook shows where it stopped.</div>{% endif %}
{% if s.problem %}<div class="failbox">{{ s.problem }}</div>{% endif %}
{% for i in s.items %}
{% if i.kind == "figure" %}<figure id="{{ i.anchor }}">
{% if i.image %}<a href="{{ i.image }}"><img src="{{ i.image }}" alt="{{ i.caption }}" loading="lazy"></a>{% endif %}
<figcaption><strong>{{ i.name }}.</strong> {{ i.caption }}
<span class="links">{% for label, url in i.links %}<a href="{{ url }}">{{ label }}</a>{% endfor %}</span></figcaption>
{% if i.problem %}<div class="failbox">{{ i.problem }}</div>{% endif %}
</figure>
{% else %}<section id="{{ i.anchor }}">
<p class="caption"><strong>{{ i.name }}.</strong> {{ i.caption }}
<span class="links">{% for label, url in i.links %}<a href="{{ url }}">{{ label }}</a>{% endfor %}</span></p>
{% if i.table %}<div class="table-wrap"><table class="data">
<thead><tr>{% for name, num in i.table.columns %}<th{% if num %} class="num"{% endif %}>{{ name }}</th>{% endfor %}</tr></thead>
<tbody>{% for row in i.table.rows %}<tr>{% for cell in row %}<td{% if i.table.columns[loop.index0][1] %} class="num"{% endif %}>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table></div>{% endif %}
{% if i.problem %}<div class="failbox">{{ i.problem }}</div>{% endif %}
</section>{% endif %}
{% else %}<p class="empty">This notebook saved no figures or tables.</p>
{% endfor %}
{% endfor %}

<footer>Generated {{ generated|when }} by greenkd {{ version }}. Numbers, figures and tables come from
<code>outputs/{{ profile }}/</code>; every link on this page is relative to it.</footer>
</main>
</body>
</html>
"""


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
    env = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(when=_when, duration=_duration)
    page = env.from_string(_TEMPLATE).render(
        title=f"greenkd — {profile} profile",
        profile=profile,
        banner_class=banner_class,
        banner=banner,
        run={k: v for k, v in summary.items() if k != "notebooks"},
        sections=_sections(root, summary),
        generated=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        version=__version__,
    )
    path = root / "index.html"
    _atomic_write(path, page.encode("utf-8"))
    return path
