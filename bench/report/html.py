"""`bench report --format html`: a suite's report as one self-contained page. The markdown report is the content
(so the page holds everything it holds), rendered by Python-Markdown with raw HTML off: a `<tag>` in the text is
shown as text, a link goes nowhere but within the page, a picture is one the report drew; the plots that have hover
texts are inlined as SVG (their style as SVG attributes), the other pictures embedded as PNG data; the style and
the table script (sorting, filtering) ship with the package in `assets/` and are inlined. A Content-Security-Policy
forbids every request and runs no script or style but those two, by their hashes: the page needs no network, and
text that got into it as markup would still run nothing.
"""
from __future__ import annotations

import base64
import hashlib
import re
from html import escape, unescape
from pathlib import Path
from xml.etree import ElementTree

from markdown import Markdown
from markdown.treeprocessors import Treeprocessor

ASSETS = Path(__file__).parent / "assets"
PICTURE = re.compile(r'(?P<open><p>)?<img alt="(?P<alt>[^"]*)" src="(?P<src>[^"]*)"\s*/?>(?P<close></p>)?')
CELL = re.compile(r"<td(?P<attributes>[^>]*)>(?P<content>.*?)</td>", re.S)
TAG = re.compile(r"<[^>]+>")
LONG_CELL = 24  # characters of text past which a cell wraps in a narrow block (a sentence, a list of changes)


def policy(style: str, script: str) -> str:
    """The page's Content-Security-Policy: nothing is fetched (pictures are data: URLs), and the one inline style
    and the one script run by their sha256 (no 'unsafe-inline': a style attribute, an event handler or a
    `javascript:` URL in the page does nothing)."""
    def sha256(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode("ascii") + "'"

    return (f"default-src 'none'; img-src data:; style-src {sha256(style)}; script-src {sha256(script)}; "
            "base-uri 'none'; form-action 'none'")


def wrapped(match: re.Match) -> str:
    """A table cell with a long text, its content in a block of bounded width (a cell's own max-width is not
    honoured by table layout), so that the sentence wraps instead of widening its column."""
    content = match["content"]
    if len(unescape(TAG.sub("", content))) <= LONG_CELL:
        return match[0]
    return f'<td{match["attributes"]}><div class="long">{content}</div></td>'


NO_HEADER = re.compile(r"<thead>\s*<tr>\s*(?:<th[^>]*></th>\s*)+</tr>\s*</thead>\s*")  # the facts tables' blank one


class Inert(Treeprocessor):
    """What the markdown's text could make active, made inert: a link to anything but a place in the page loses its
    target (its text stays), and a picture that is not one of `pictures` (files the report drew) becomes its alt
    text. The report writes neither links nor other pictures itself: such ones came from a user's text."""

    def __init__(self, md: Markdown, pictures: set[str]):
        super().__init__(md)
        self.pictures = pictures

    def run(self, root: ElementTree.Element) -> None:
        for element in root.iter():
            if element.tag == "a" and not element.get("href", "#").startswith("#"):
                del element.attrib["href"]
            elif element.tag == "img" and element.get("src") not in self.pictures:
                alt = element.get("alt", "")
                element.tag, element.text = "span", f"[picture: {alt}]"
                element.attrib.clear()


def drawn(root: Path | None) -> set[str]:
    """The pictures a page may show: the PNG files under `root` (the report's own folder, which holds only what the
    report drew), by their path relative to it; none without one."""
    if root is None:
        return set()
    return {p.relative_to(root).as_posix() for p in root.rglob("*.png") if p.is_file() and not p.is_symlink()}


def converter(pictures: set[str]) -> Markdown:
    """Python-Markdown with raw HTML off (since 3.0 it has no switch: the block and inline HTML readers are
    removed, so a `<tag>` is text) and links and pictures made inert (Inert, after every other step)."""
    md = Markdown(extensions=["tables", "toc"], output_format="html",
                  extension_configs={"tables": {"use_align_attribute": True}})  # align="right": a style attribute
    md.preprocessors.deregister("html_block")  # would be blocked by the policy
    md.inlinePatterns.deregister("html")
    md.treeprocessors.register(Inert(md, pictures), "inert", -1)
    return md


# SVG presentation attributes (the CSS properties matplotlib's style attributes set, under the same names).
PRESENTATION = frozenset((
    "fill", "fill-opacity", "fill-rule", "stroke", "stroke-opacity", "stroke-width", "stroke-linecap",
    "stroke-linejoin", "stroke-miterlimit", "stroke-dasharray", "stroke-dashoffset", "opacity", "font-family",
    "font-size", "font-style", "font-weight", "font-variant", "text-anchor", "dominant-baseline", "clip-path",
    "clip-rule", "color", "display", "visibility", "mask", "letter-spacing", "text-decoration"))
# `font: italic bold 10px/1.2 'DejaVu Sans'` (older matplotlib): its parts before the size, the size, the family.
FONT = re.compile(r"^(?P<before>.*?)(?P<size>[\d.]+(?:px|pt|em|%))(?:/\S+)?\s+(?P<family>.+)$")
STYLE_ATTRIBUTE = re.compile(r'\sstyle="(?P<declarations>[^"]*)"')
STYLED_TAG = re.compile(r'<[a-zA-Z][^<>]*?\sstyle="[^"]*"[^<>]*>')
ATTRIBUTE_NAME = re.compile(r'\s([\w:-]+)="')
SVG_STYLE = re.compile(r"\s*<style[^>]*>(?P<rules>.*?)</style>", re.S)
EVERY_ELEMENT = re.compile(r"\*\s*\{(?P<declarations>[^}]*)\}")


def declared(declarations: str) -> list[tuple[str, str]]:
    """CSS declarations as (property, value) pairs, a `font` shorthand split into its parts."""
    found = []
    for declaration in unescape(declarations).split(";"):
        name, sep, value = (part.strip() for part in declaration.partition(":"))
        font = FONT.match(value) if name.lower() == "font" else None
        if font:
            words = font["before"].split()
            found += [("font-style", w) for w in words if w in ("italic", "oblique")]
            found += [("font-weight", w) for w in words if w == "bold" or w.isdigit()]
            found += [("font-size", font["size"]), ("font-family", font["family"])]
        elif sep and value:
            found.append((name.lower(), value))
    return found


def as_attributes(declarations: str, present: set[str] = frozenset()) -> str:
    """CSS declarations as SVG presentation attributes (` fill="#fff" stroke-width="0.8"`), leaving out those the
    element has already and any property that has no such attribute."""
    return "".join(f' {name}="{escape(value)}"' for name, value in declared(declarations)
                   if name in PRESENTATION and name not in present)


def restyled(match: re.Match) -> str:
    """An SVG tag with its style attribute as presentation attributes."""
    tag = match[0]
    declarations = STYLE_ATTRIBUTE.search(tag)["declarations"]
    present = set(ATTRIBUTE_NAME.findall(tag))
    return STYLE_ATTRIBUTE.sub(lambda _: as_attributes(declarations, present), tag, count=1)


def unstyled(svg: str) -> str:
    """A matplotlib SVG without style attributes or style element, which a policy without 'unsafe-inline' would
    drop: each style attribute as presentation attributes, and the style element's rule for every element (`*{stroke-
    linejoin: round; ...}`) as attributes of the root, which its elements inherit where they set none of their own."""
    rules = "".join(m["rules"] for m in SVG_STYLE.finditer(svg))
    svg = STYLED_TAG.sub(restyled, SVG_STYLE.sub("", svg))
    everywhere = "".join(as_attributes(m["declarations"]) for m in EVERY_ELEMENT.finditer(rules))
    return svg.replace("<svg", "<svg" + everywhere, 1) if everywhere else svg


def inlined(match: re.Match, root: Path, vectors: dict[Path, str]) -> str:
    """A picture of the markdown as the page shows it: its SVG as a figure when it has one (in place of the paragraph
    it stood alone in), else its PNG as data."""
    alt, src = unescape(match["alt"]), unescape(match["src"])
    path = root / src
    open_, close = match["open"] or "", match["close"] or ""
    if path in vectors:
        figure = f'<figure class="plot" role="img" aria-label="{escape(alt)}">{unstyled(vectors[path])}' \
                 f"<figcaption>{escape(alt)}; hover a line or point for its run(s)</figcaption></figure>"
        return figure if open_ and close else open_ + figure + close
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'{open_}<img alt="{escape(alt)}" src="data:image/png;base64,{data}">{close}'


def page(title: str, text: str, root: Path | None, vectors: dict[Path, str], kind: str = "bench report") -> str:
    """The HTML page of the markdown `text`, whose pictures are found under `root` (their SVGs in `vectors`; no
    root: no pictures); `kind` ends its title (a report, a comparison). Every text in it shows as text."""
    md = converter(drawn(root))
    body = CELL.sub(wrapped, NO_HEADER.sub("", md.convert(text)))
    body = PICTURE.sub(lambda m: inlined(m, root, vectors), body) if root is not None else body
    css, script = ((ASSETS / name).read_text() for name in ("report.css", "report.js"))
    style, code = f"\n{css}", f"\n{script}"  # the elements' text, as the policy hashes it
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy(style, code)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — {escape(kind)}</title>
<link rel="icon" href="data:,">
<style>{style}</style>
</head>
<body>
<nav aria-label="contents">
<details open><summary>Contents</summary>
{md.toc}</details></nav>
<main>
{body}
</main>
<script>{code}</script>
</body>
</html>
"""
