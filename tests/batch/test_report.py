"""The report: where it places and labels each notebook, and what a reader sees (contents, tables,
figures, the way back from an exported notebook)."""

from __future__ import annotations

import json
import re
import struct
import tomllib
import zlib
from pathlib import Path

from jinja2 import Environment, PackageLoader

from greenkd_lib.batch.report import (_banner, _describe_stem, add_back_link, BEYOND_THE_PAPER, build_report,
                                      figure_width, format_duration, MIN_FIGURE_SCALE, MIN_TEXT_PX, png_dpi,
                                      png_size, short_caption, TEMPLATE)
from greenkd_lib.config.profiles import get_profile


def test_ablation_notebooks_are_labelled_beyond_the_paper():
    assert _describe_stem("13_ablation_why_random_tau") == ("why random tau", BEYOND_THE_PAPER)
    assert _describe_stem("03_fig3_tau_sensitivity") == ("tau sensitivity", "Fig 3")
    assert _describe_stem("11_table7_pairs") == ("pairs", "Table 7")
    assert _describe_stem("00_story") == ("story", None)
    assert _describe_stem("14_ablation_") == ("ablation ", None)  # a prefix with nothing after it is a slug


def test_the_ablation_section_follows_the_paper_s_tables_with_its_label_and_title(tmp_path: Path):
    root = tmp_path / "smoke"
    (root / "manifest").mkdir(parents=True)
    (root / "notebooks").mkdir()
    for stem in ("13_ablation_why_random_tau", "11_table7_pairs", "03_fig3_tau_sensitivity"):
        (root / "manifest" / f"{stem}.json").write_text(json.dumps({"notebook": stem, "profile": "smoke", "items": []}))
    (root / "notebooks" / "13_ablation_why_random_tau.ipynb").write_text(json.dumps(
        {"cells": [{"cell_type": "markdown", "source": ["# Ablation: why does a random tau work?\n", "text"]}]}))
    page = build_report("smoke", tmp_path).read_text()
    assert page.index("03_fig3_tau_sensitivity") < page.index("11_table7_pairs") < page.index("13_ablation_why_random_tau")
    heading = re.search(r'<h2 id="nb-13-ablation-why-random-tau">(.*?)</h2>', page).group(1)
    assert BEYOND_THE_PAPER in heading and "Ablation: why does a random tau work?" in heading
    assert f"{BEYOND_THE_PAPER} · Ablation: why does a random tau work?" in page  # the contents


# -- what a reader sees: contents, tables, figures, links back (issue 12) --------------------------
ROOT = Path(__file__).resolve().parents[2]


def _png(path: Path, width: int, height: int) -> None:
    """A valid grey PNG of this size, written by hand (no plotting library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _outputs(tmp_path: Path, items: list[dict], stem: str = "03_fig3_tau_sensitivity",
             heading: str = "# Fig 3: how much the temperature matters") -> Path:
    root = tmp_path / "quick"
    for d in ("manifest", "notebooks", "figures", "tables"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "manifest" / f"{stem}.json").write_text(json.dumps({"notebook": stem, "profile": "quick", "items": items}))
    cells = [{"cell_type": "markdown", "source": heading}]
    (root / "notebooks" / f"{stem}.ipynb").write_text(json.dumps({"cells": cells}))
    return root


def test_short_caption_keeps_what_the_item_is():
    assert short_caption("Table 1 (digits, quick profile, KL 'mean'): teacher and student; mean over 2 seed(s)") == (
        "Table 1: teacher and student")
    assert short_caption("mobilenetv2 accuracy (mean +- std over 2 seed(s)) per tau, a band") == (
        "mobilenetv2 accuracy per tau, a band")
    long = short_caption("word " * 40, limit=30)
    assert long.endswith("…") and len(long) <= 31 and " wor…" not in long
    assert short_caption("(only an aside)") == "(only an aside)"


def test_contents_list_captions_and_no_repeated_label(tmp_path: Path):
    caption = "Test accuracy against tau (digits, quick profile, KL 'mean'); paper values: not published here"
    root = _outputs(tmp_path, [{"kind": "table", "name": "fig3a_tau_sweep", "caption": caption, "files": []}])
    page = build_report("quick", tmp_path).read_text()
    toc = page[page.index('<nav class="toc">'):page.index("</nav>")]
    assert "Fig 3 · How much the temperature matters" in toc and "Fig 3 · Fig 3" not in toc
    assert '<span class="kind">Table</span> Test accuracy against tau</a>' in toc
    assert "Table: fig3a_tau_sweep" not in toc and "fig3a_tau_sweep" not in toc
    assert 'title="Test accuracy against tau (digits' in toc  # the full caption on hover
    assert re.search(r'<h2 id="nb-03-fig3-tau-sensitivity"><span class="label">Fig 3</span>How much', page)
    assert root.joinpath("index.html").is_file()


def test_figures_carry_their_pixel_size_and_load_for_full_page_captures(tmp_path: Path):
    root = _outputs(tmp_path, [{"kind": "figure", "name": "fig3a", "caption": "A figure",
                                "files": ["figures/fig3a.png", "figures/fig3a.svg"]}])
    _png(root / "figures" / "fig3a.png", 37, 21)
    (root / "figures" / "fig3a.svg").write_text("<svg/>")
    assert png_size(root / "figures" / "fig3a.png") == (37, 21)
    assert png_size(root / "figures" / "fig3a.svg") is None and png_size(root / "nowhere.png") is None
    page = build_report("quick", tmp_path).read_text()
    img = re.search(r"<img [^>]*>", page).group(0)
    assert 'src="figures/fig3a.png"' in img and 'width="37" height="21"' in img
    # Lazy or async-decoded images come out blank in a full-page capture taken without scrolling.
    assert 'loading="eager"' in img and "lazy" not in img and "decoding" not in img


def test_tables_keep_tokens_whole_and_wide_tables_say_they_scroll(tmp_path: Path):
    root = _outputs(tmp_path, [
        {"kind": "table", "name": "narrow", "caption": "Narrow", "files": ["tables/narrow.csv"]},
        {"kind": "table", "name": "wide", "caption": "Wide", "files": ["tables/wide.csv"]}])
    (root / "tables" / "narrow.csv").write_text(
        "method,pair,note,co2\nkd-tuned,wrn_40_2 -> wrn_16_1,"
        "a long remark that wraps between words: resnet18 -> mobilenetv2,0.5\n")
    (root / "tables" / "wide.csv").write_text(
        ",".join(f"a rather long column header {i}" for i in range(30)) + "\n" + ",".join(["123456.5"] * 30) + "\n")
    page = build_report("quick", tmp_path).read_text()
    assert "<td>kd-tuned</td>" in page and "<td>wrn_40_2 -&gt; wrn_16_1</td>" in page  # short: nowrap by CSS
    assert ('class="wrap">a long remark that wraps between words: resnet18 <span class="nb">-&gt;</span> mobilenetv2'
            in page)
    narrow, wide = page.split('id="table-wide"')
    assert "scroll it sideways" not in narrow and '<div class="table-wrap">' in narrow
    assert "scroll it sideways for all 30 columns" in wide and '<div class="table-wrap wide">' in wide
    assert "min-width:calc(" in wide and "min-width:calc(" not in narrow
    assert "table.data td { white-space:nowrap; }" in page


def test_back_link_to_the_report_is_added_once_at_the_top_of_the_body():
    page = ('<html><head><style>body { x }</style></head><body class="jp-Notebook" data-x="1">\n'
            "<main>cell</main></body></html>")
    linked = add_back_link(page)
    assert linked.index('<body class="jp-Notebook"') < linked.index('href="../index.html"') < linked.index("<main>")
    assert "&larr; Back to the report</a>" in linked and linked.count("<nav") == 1
    assert add_back_link(linked) == linked
    assert add_back_link("<p>no body</p>", href="../x.html?a=1&b=2", label="<Report>").startswith(
        '<nav class="greenkd-back"')
    assert 'href="../x.html?a=1&amp;b=2"' in add_back_link("<p/>", href="../x.html?a=1&b=2")
    assert "&lt;Report&gt;" in add_back_link("<p/>", label="<Report>")


def test_template_ships_with_the_package_and_jinja2_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert any(re.match(r"jinja2\s*>=", r, re.IGNORECASE) for r in project["project"]["dependencies"])
    patterns = project["tool"]["setuptools"]["package-data"]["greenkd_lib"]
    package = ROOT / "greenkd_lib"
    assert any((package / "batch" / "templates" / TEMPLATE) in package.glob(p) for p in patterns)
    env = Environment(loader=PackageLoader("greenkd_lib.batch", "templates"))
    env.filters.update(when=str, duration=str, nobreak=str)  # build_report's own filters
    env.get_template(TEMPLATE)  # parses


def test_format_duration_and_the_smoke_banner():
    assert format_duration(192.4) == "3 min 12 s" and format_duration(4.23) == "4.2 s"
    assert format_duration(None) == "" and format_duration("x") == ""
    _, paragraphs = _banner(get_profile("smoke"), None)
    assert "seconds-long" not in paragraphs[0] and "minutes" in paragraphs[0]


# -- figures shown large enough to read (issue 30) -------------------------------------------------
def _column_px(page: str) -> float:
    """The report's text column in CSS px, from its own stylesheet (main's max width less its padding)."""
    m = re.search(r"main \{ max-width:(\d+)px; margin:0 auto; padding:[\d.]+rem ([\d.]+)rem", page)
    return int(m.group(1)) - 2 * float(m.group(2)) * 16


def _shown_px(page: str, name: str, png_width: int) -> float:
    """How wide the page shows figure ``name``: a wide figure's own width, else the PNG's, at most the column."""
    figure = re.search(rf'<figure id="figure-{name.replace("_", "-")}">(.*?)</figure>', page, re.S).group(1)
    wide = re.search(r'class="figure-wide" style="--w:(\d+)px"', figure)
    return float(wide.group(1)) if wide else min(png_width, _column_px(page))


def test_figures_are_shown_so_that_their_smallest_text_is_readable(tmp_path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from greenkd_lib.paper.outputs import NotebookOutputs

    out = NotebookOutputs("06_table3_architectures", "quick", tmp_path)
    shapes = {"small": ((5, 3), 9), "column": ((9, 4), 10), "wide": ((15, 4), 7), "tiny_text": ((14, 3), 5),
              "very_wide": ((30, 3), 8)}
    for name, (size, pt) in shapes.items():
        fig, ax = plt.subplots(figsize=size)
        ax.plot([0, 1], [0, 1], label="a curve")
        ax.set_xticks([0, 1], ["left", "right"], fontsize=pt)
        ax.legend(fontsize=pt + 1)
        out.figure(fig, name, f"A {name} figure")
        plt.close(fig)
    page = build_report("quick", tmp_path).read_text()
    column = _column_px(page)
    manifest = {i["name"]: i for i in json.loads((out.root / "manifest" / "06_table3_architectures.json").read_text())["items"]}
    for name, (_, pt) in shapes.items():
        png = out.root / manifest[name]["files"][0]
        width, _ = png_size(png)
        dpi = png_dpi(png)
        assert dpi == 150 and manifest[name]["text_pt"] == pt
        scale = _shown_px(page, name, width) / width
        text_px = pt * dpi / 72 * scale
        assert scale >= MIN_FIGURE_SCALE - 0.005, f"{name}: {width} px shown at {scale:.2f}"
        # A PNG is never enlarged past its pixels: text too small even there is the figure's to fix.
        assert text_px >= MIN_TEXT_PX - 0.05 or scale == 1, f"{name}: its {pt} pt text shows at {text_px:.1f} px"
        assert (_shown_px(page, name, width) > column) == ('class="figure-wide"' in re.search(
            rf'<figure id="figure-{name.replace("_", "-")}">(.*?)</figure>', page, re.S).group(1))
    assert 'style="--w:' in page and "scroll it sideways, or open the PNG" in page  # very_wide exceeds a window


def test_figure_width_rules():
    assert figure_width((800, 400), 150, 8, column_px=1132) == 800  # fits: its own pixels
    assert figure_width((1500, 400), 150, 10, column_px=1132) == 1132  # the column, text 15.7 px
    assert figure_width((2200, 400), 150, 7, column_px=1132) == round(2200 * 9 / (7 * 150 / 72))  # text at 9 px
    assert figure_width((3000, 400), None, None, column_px=1132) == 3000 * MIN_FIGURE_SCALE  # unknown text
    assert figure_width((3000, 400), 150, 3, column_px=1132) == 3000  # never enlarged past its pixels
    png = Path(__file__)  # not a PNG
    assert png_dpi(png) is None and png_dpi(Path("/nowhere.png")) is None
