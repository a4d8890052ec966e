"""The exported notebook pages ``outputs/<profile>/html/<stem>.html``: readable offline, like the report.

nbconvert's own page fetches MathJax, require.js and the widgets' manager from CDNs, so offline a
reader sees raw TeX and blank progress bars. Here, at export time:

- math becomes MathML (:mod:`greenkd_lib.batch.mathml`), which browsers draw themselves;
- each widget output (tqdm's bars) becomes plain HTML drawn from the widgets' last state, saved in
  the executed notebook (a ``<progress>`` bar with its labels);
- the page's template (``templates/notebook.html.j2``) drops nbconvert's remote scripts;
- a link back to the report opens the page (:func:`greenkd_lib.batch.report.add_back_link`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import pass_context
from markupsafe import escape
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor

from .mathml import markdown_to_html
from .report import add_back_link

__all__ = ["export_notebook", "OfflineHTMLExporter", "StaticWidgets", "widget_html", "TEMPLATE"]

TEMPLATE = "notebook.html.j2"  # in greenkd_lib/batch/templates/, beside the report's
_TEMPLATES = Path(__file__).with_name("templates")
_VIEW = "application/vnd.jupyter.widget-view+json"
_STATE = "application/vnd.jupyter.widget-state+json"
_BOXES = {"HBoxModel": "row", "VBoxModel": "column", "BoxModel": "row"}
_PROGRESS = ("FloatProgressModel", "IntProgressModel")
_PLAIN_FIRST = ("text/html", "text/markdown", "image/svg+xml", "image/png", "image/jpeg")


def widget_html(model_id: str, state: dict[str, Any]) -> str | None:
    """A widget drawn as static HTML from its saved state; ``None`` for a kind not drawn here.

    Boxes, HTML and Label texts and progress bars: what tqdm's notebook bar is made of."""
    model = state.get(model_id)
    if not isinstance(model, dict):
        return None
    name, values = model.get("model_name"), model.get("state", {})
    if name in _BOXES:
        children = [widget_html(str(ref).removeprefix("IPY_MODEL_"), state) for ref in values.get("children", [])]
        if any(child is None for child in children):
            return None
        return (f'<div class="greenkd-widget-box" style="flex-direction:{_BOXES[name]}">'
                + "".join(children) + "</div>")  # type: ignore[arg-type]
    description = values.get("description") or ""
    label = f"<span>{escape(description)}</span>" if description else ""
    if name == "HTMLModel":  # its value is HTML already (tqdm escapes its text)
        return f'{label}<span class="greenkd-widget-text">{values.get("value", "")}</span>'
    if name == "LabelModel":
        return f'{label}<span class="greenkd-widget-text">{escape(values.get("value", ""))}</span>'
    if name in _PROGRESS:
        low, high = float(values.get("min", 0) or 0), float(values.get("max", 100) or 0)
        value = min(max(float(values.get("value", 0) or 0), low), high)
        style = values.get("bar_style") or ""
        cls = f"greenkd-progress bar-{escape(style)}" if style else "greenkd-progress"
        return f'{label}<progress class="{cls}" max="{high - low:g}" value="{value - low:g}"></progress>'
    return None


class StaticWidgets(Preprocessor):
    """Widget outputs as static HTML (or their text fallback), and no widget state left for the page's
    template to load a widget manager for; ``text/latex`` outputs as MathML."""

    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        widgets = nb.metadata.pop("widgets", None) or {}
        state = widgets.get(_STATE, {}).get("state", {}) if isinstance(widgets, dict) else {}
        for cell in nb.cells:
            for output in cell.get("outputs", []):
                data = output.get("data")
                if not data:
                    continue
                view = data.pop(_VIEW, None)
                if view is not None:
                    drawn = widget_html(str(view.get("model_id", "")), state)
                    if drawn is not None:
                        data["text/html"] = f'<div class="greenkd-widget">{drawn}</div>'
                if "text/latex" in data and not any(kind in data for kind in _PLAIN_FIRST):
                    data["text/html"] = markdown_to_html(str(data["text/latex"]))
        return nb, resources


class OfflineHTMLExporter(HTMLExporter):
    """nbconvert's JupyterLab-style page with MathML for math and no script from the network."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("template_name", "lab")
        kwargs.setdefault("template_file", TEMPLATE)
        kwargs.setdefault("extra_template_paths", [str(_TEMPLATES)])
        super().__init__(**kwargs)
        self.register_preprocessor(StaticWidgets(), enabled=True)
        # Never written into the page by its template; emptied so no other path can bring them back.
        self.mathjax_url = self.require_js_url = ""

    @pass_context
    def markdown2html(self, context: Any, source: str) -> str:
        """nbconvert's Markdown filter (the same renderer options), with MathML for math."""
        cell = context.get("cell", {})
        return markdown_to_html(
            source, attachments=cell.get("attachments", {}), embed_images=self.embed_images,
            path=context.get("resources", {}).get("metadata", {}).get("path", ""),
            anchor_link_text=self.anchor_link_text, exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )


def export_notebook(executed: str | Path) -> str:
    """The executed notebook as one offline HTML page, opening with a link back to the report."""
    body, _ = OfflineHTMLExporter().from_filename(str(executed))
    return add_back_link(body)
