"""Exported notebook pages open offline: math as MathML (every formula of the notebooks converts),
widgets drawn from their saved state, nothing fetched from the network, a link back to the report."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from greenkd_lib.batch.mathml import markdown_to_html, MathError, tex_to_mathml
from greenkd_lib.batch.notebook_html import export_notebook, TEMPLATE, widget_html
from greenkd_lib.batch.report import build_report
from greenkd_lib.paths import notebooks_dir

ROOT = Path(__file__).resolve().parents[2]
_LOADING = {"script", "link", "img", "iframe", "source", "video", "audio", "embed", "object", "track", "input"}


class _Remote(HTMLParser):
    """What a page would fetch from the network: URLs of elements that load something, URLs inside
    inline scripts, and CSS ``url(...)``/``@import`` of remote files."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in = tag if tag in ("script", "style") else None
        if tag in _LOADING:
            for name, value in attrs:
                if name in ("src", "href", "data", "srcset", "poster") and value and re.match(r"\s*(https?:)?//", value):
                    self.found.append(f"<{tag} {name}={value}>")
        for name, value in attrs:
            if name == "style" and value and re.search(r"url\(\s*['\"]?(https?:)?//", value):
                self.found.append(f"style={value[:80]}")

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.found += [f"script: {u}" for u in re.findall(r"https?://[^\s'\"`)]+", data)]
        elif self._in == "style":
            self.found += [f"css: {m}" for m in re.findall(r"(?:url\(\s*['\"]?|@import\s+['\"])((?:https?:)?//[^'\")\s]+)", data)]


def remote_references(page: str) -> list[str]:
    parser = _Remote()
    parser.feed(page)
    return parser.found


def _markdown_text(html: str) -> str:
    """The text of rendered Markdown, without code (where a ``$`` is just a character)."""
    html = re.sub(r"<(code|pre)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


# -- every formula the notebooks write converts ----------------------------------------------------
def test_every_formula_in_the_notebooks_converts_to_mathml():
    formulas, pages = 0, sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    assert pages, f"no notebooks in {notebooks_dir()}"
    for path in pages:
        for n, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            if cell["cell_type"] != "markdown":
                continue
            source = "".join(cell["source"])
            try:
                html = markdown_to_html(source, strict=True)
            except MathError as err:
                pytest.fail(f"{path.name} cell {n}: {err}")
            assert "$" not in _markdown_text(html), f"{path.name} cell {n}: TeX left unconverted: {source[:200]!r}"
            assert "\\" not in _markdown_text(html), f"{path.name} cell {n}: a TeX command left as text"
            formulas += html.count("<math")
    assert formulas >= 20  # the notebooks write dozens ($\tau$, the KD loss ...): the test saw them


def test_formulas_become_mathml_and_bad_ones_say_why():
    loss = tex_to_mathml(r"\mathcal{L} = (1-\alpha)\,\mathrm{CE}(s, y) + \alpha\,\tau^2\,"
                         r"\mathrm{KL}\!\left(p\;\middle\|\;q\right)", display=True)
    assert loss.startswith('<math display="block">') and "<msup><mi>&#x003C4;</mi><mn>2</mn></msup>" in loss
    assert "xmlns" not in loss and "negativethinmathspace" not in loss
    with pytest.raises(MathError, match=r"does not know: \\foo"):
        tex_to_mathml(r"x \foo y")
    with pytest.raises(MathError, match="cannot convert"):
        tex_to_mathml(r"\frac{a}{")
    with pytest.raises(MathError, match="malformed"):
        tex_to_mathml(r"a & b")
    with pytest.raises(MathError, match="empty"):
        tex_to_mathml(" ")
    # Outside the tests a bad formula shows as its TeX, and the page is still written.
    assert markdown_to_html(r"see $x \foo$") == '<p>see <code class="tex">x \\foo</code></p>\n'
    # nbconvert reparses headings: the MathML keeps no namespace prefix there (<ns0:math> draws nothing).
    heading = markdown_to_html(r"# Why $\tau$ matters")
    assert "<math" in heading and "ns0" not in heading


def test_widgets_are_drawn_from_their_saved_state():
    state = {"box": {"model_name": "HBoxModel", "state": {"children": ["IPY_MODEL_a", "IPY_MODEL_b", "IPY_MODEL_c"]}},
             "a": {"model_name": "HTMLModel", "state": {"value": "epochs: 100%"}},
             "b": {"model_name": "FloatProgressModel", "state": {"min": 0.0, "max": 6.0, "value": 6.0,
                                                                 "bar_style": "success"}},
             "c": {"model_name": "HTMLModel", "state": {"value": " 6/6 [00:06&lt;00:00]"}},
             "odd": {"model_name": "IntSliderModel", "state": {}}}
    html = widget_html("box", state)
    assert '<progress class="greenkd-progress bar-success" max="6" value="6"></progress>' in html
    assert html.index("epochs: 100%") < html.index("<progress") < html.index("6/6 [00:06&lt;00:00]")
    assert widget_html("odd", state) is None and widget_html("missing", state) is None


# -- a real executed notebook, exported ------------------------------------------------------------
_NOTEBOOK = {
    "nbformat": 4, "nbformat_minor": 5,
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "cells": [
        {"cell_type": "markdown", "id": "why", "metadata": {}, "source": "# Why $\\tau$ matters\n\n$$\\tau^2\\,\\mathrm{KL}(p \\,\\|\\, q)$$"},
        {"cell_type": "code", "id": "parameters", "metadata": {"tags": ["parameters"]}, "execution_count": None, "outputs": [],
         "source": 'profile = "quick"\noverrides = None\nseeds = None\noutput_root = None'},
        {"cell_type": "code", "id": "bar", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "from tqdm.auto import tqdm\nfor _ in tqdm(range(3), desc='epochs'):\n    pass"},
        {"cell_type": "code", "id": "math", "metadata": {}, "execution_count": None, "outputs": [],
         "source": "from IPython.display import Math\nMath(r'\\alpha = 0.95')"},
    ],
}


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> Path:
    """A tiny notebook executed by papermill as ``greenkd reproduce`` runs them, with profile overrides."""
    import papermill

    folder = tmp_path_factory.mktemp("outputs") / "smoke" / "notebooks"
    folder.mkdir(parents=True)
    source = folder.parent.parent / "07_table4_kd_objectives.ipynb"
    source.write_text(json.dumps(_NOTEBOOK))
    target = folder / source.name
    papermill.execute_notebook(str(source), str(target), kernel_name="python3", progress_bar=False,
                               parameters={"profile": "smoke", "overrides": {"epochs": 8, "subset": 64},
                                           "seeds": [0], "output_root": str(folder.parent.parent)})
    return target


def test_an_exported_page_needs_no_network_and_shows_math_and_bars(executed: Path):
    page = export_notebook(executed)
    assert remote_references(page) == []
    assert "mathjax" not in page.lower() and "require.min.js" not in page and "unpkg" not in page
    body = page[page.index("<body"):]
    assert body.count("<math") == 3  # inline tau, the block formula, the Math(...) output
    assert not re.search(r"\$[^$\s][^$]*\$", _markdown_text(body))
    # tqdm's bar, drawn from the saved widget state at its end (not the text fallback's 0 %).
    assert re.search(r'<progress class="greenkd-progress[^"]*" max="3" value="3">', body)
    assert "epochs:\u2007100%" in body and "application/vnd.jupyter.widget-view+json" not in body  # tqdm's spaces
    assert '<nav class="greenkd-back"' in body and 'href="../index.html"' in body


def test_the_remote_check_finds_what_nbconvert_s_own_page_loads(executed: Path):
    from nbconvert import HTMLExporter

    found = remote_references(HTMLExporter().from_filename(str(executed))[0])
    assert any("mathjax" in f for f in found) and any("require" in f for f in found)
    assert remote_references('<a href="https://doi.org/x">paper</a><img src="data:image/png;base64,AA">') == []
    assert remote_references('<style>@import "//cdn.example/x.css";</style>') == ["css: //cdn.example/x.css"]


def test_the_page_template_ships_with_the_package():
    import tomllib

    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["greenkd_lib"]
    package = ROOT / "greenkd_lib"
    assert any((package / "batch" / "templates" / TEMPLATE) in package.glob(p) for p in patterns)


def test_the_report_says_which_notebooks_ran_with_changed_parameters(executed: Path):
    root = executed.parent.parent
    (root / "summary.json").write_text(json.dumps({"profile": "smoke", "total_s": 2.0, "finished_at": "2026-01-01T00:00:00", "notebooks": [
        {"notebook": executed.stem, "status": "ok", "seconds": 1.0, "error": None, "finished_at": "2026-01-01T00:00:00"},
        {"notebook": "05_table2_datasets", "status": "ok", "seconds": 1.0, "error": None,
         "finished_at": "2026-01-01T00:00:00"}]}))
    page = build_report("smoke", root.parent).read_text()
    banner = re.search(r'<div class="banner changed" id="changed-parameters">(.*?)</div>', page, re.S).group(1)
    for setting in ("overrides: epochs = 8", "overrides: subset = 64", "seeds = [0]"):
        assert f"<code>{setting}</code> in 07_table4_kd_objectives" in banner
    assert "profile =" not in banner and "output_root" not in banner  # where it ran, not what it computed
    assert "05_table2_datasets" not in banner
    section = page[page.index('id="nb-07-table4-kd-objectives"'):]
    assert "ran with overrides: epochs = 8; overrides: subset = 64; seeds = [0]" in section[:2000]
