"""TeX to MathML, so that exported notebook pages show their formulas without MathJax.

nbconvert leaves ``$\\tau$`` and ``$$\\mathcal{L} = …$$`` in its pages for MathJax to typeset from a
CDN; offline a reader sees the TeX source. Here the same Markdown parser (nbconvert's, so that math is
found exactly where nbconvert finds it) renders each formula to MathML with ``latex2mathml``;
Chromium, Firefox and Safari draw MathML themselves. Used by :mod:`greenkd_lib.batch.notebook_html`.
"""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from markupsafe import escape
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

__all__ = ["MathError", "tex_to_mathml", "markdown_to_html", "MathMLRenderer"]

# latex2mathml writes a width MathML does not know for \! (a negative thin space): browsers ignore
# the attribute, and MathML Core allows no negative mspace, so nothing is lost by dropping it.
_UNKNOWN_WIDTH = ' width="negativethinmathspace"'
# An HTML page puts <math> in the MathML namespace by itself; the explicit one would come out as
# <ns0:math> (which no browser draws) where nbconvert reparses a heading with ElementTree.
_NAMESPACE = ' xmlns="http://www.w3.org/1998/Math/MathML"'


class MathError(ValueError):
    """A TeX formula that latex2mathml cannot turn into MathML (a syntax error or an unknown command)."""


def tex_to_mathml(tex: str, display: bool = False) -> str:
    """``tex`` (without its ``$`` delimiters) as a ``<math>`` element; ``display``: a block formula.

    Raises :class:`MathError` naming the formula when it does not convert, including when a command
    is unknown (latex2mathml would print it as text, e.g. ``\\foo``).
    """
    from latex2mathml.converter import convert

    source = tex.strip()
    if not source:
        raise MathError("an empty formula ($$ or $ $): remove it or write the TeX between the dollars")
    try:
        mathml = convert(source, display="block" if display else "inline")
    except Exception as err:  # noqa: BLE001 - latex2mathml raises many kinds; each means "not convertible"
        raise MathError(f"cannot convert the TeX {source!r} to MathML ({type(err).__name__}"
                        f"{': ' + str(err) if str(err) else ''}); check its braces and commands") from None
    if "\\" in mathml:  # its output escapes every symbol as an entity: a backslash is a command it kept as text
        unknown = sorted({word for word in mathml.replace("<", " ").replace(">", " ").split() if word.startswith("\\")})
        raise MathError(f"the TeX {source!r} uses command(s) latex2mathml does not know: {', '.join(unknown)}; "
                        "write them with commands it knows (e.g. \\mathrm{...} for an operator name)")
    try:  # a bare & (alignment outside align*/cases) or < comes through unescaped: the page would break
        ElementTree.fromstring(mathml)
    except ElementTree.ParseError as err:
        raise MathError(f"the TeX {source!r} gives malformed MathML ({err}): an & belongs inside an "
                        "environment that aligns (align*, cases), a < or > outside \\text{...}") from None
    return mathml.replace(_UNKNOWN_WIDTH, "").replace(_NAMESPACE, "")


class MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer, writing math as MathML instead of TeX for MathJax.

    ``strict``: a formula that does not convert raises :class:`MathError` (the tests); otherwise it is
    shown as its TeX source in ``<code class="tex">`` (an exported page is still written).
    """

    def __init__(self, *args: Any, strict: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.strict = strict

    def _math(self, tex: str, display: bool) -> str:
        try:
            return tex_to_mathml(tex, display)
        except MathError:
            if self.strict:
                raise
            return f'<code class="tex">{escape(tex)}</code>'

    def inline_math(self, body: str) -> str:
        return self._math(body, display=False)

    def block_math(self, body: str) -> str:
        return self._math(body, display=True)

    def latex_environment(self, name: str, body: str) -> str:
        return self._math(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True)


def markdown_to_html(source: str, strict: bool = False, **renderer: Any) -> str:
    """Markdown with ``$…$`` / ``$$…$$`` math as HTML with MathML, parsed as nbconvert parses it.

    ``renderer``: options of nbconvert's ``IPythonRenderer`` (attachments, anchor links, ...).
    """
    return MarkdownWithMath(renderer=MathMLRenderer(escape=False, strict=strict, **renderer)).render(source)
