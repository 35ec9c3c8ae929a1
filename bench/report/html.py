"""`bench report --format html`: a suite's report as one self-contained page. The markdown report is the content
(so the page holds everything it holds), rendered by Python-Markdown; the plots that have hover texts are inlined as
SVG, the other pictures embedded as PNG data; the style and the table script (sorting, filtering) ship with the
package in `assets/` and are inlined. A Content-Security-Policy forbids every request: the page needs no network.
"""
from __future__ import annotations

import base64
import re
from html import escape, unescape
from pathlib import Path

ASSETS = Path(__file__).parent / "assets"
# Nothing is fetched: no script, style, picture or font but what the page carries (data: pictures, inline the rest).
POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
# A picture of the markdown, with the paragraph around it when it stands alone there.
PICTURE = re.compile(r'(?P<open><p>)?<img alt="(?P<alt>[^"]*)" src="(?P<src>[^"]*)"\s*/?>(?P<close></p>)?')
CELL = re.compile(r"<td(?P<attributes>[^>]*)>(?P<content>.*?)</td>", re.S)
TAG = re.compile(r"<[^>]+>")
LONG_CELL = 24  # characters of text past which a cell wraps in a narrow block (a sentence, a list of changes)


def wrapped(match: re.Match) -> str:
    """A table cell with a long text, its content in a block of bounded width (a cell's own max-width is not
    honoured by table layout), so that the sentence wraps instead of widening its column."""
    content = match["content"]
    if len(unescape(TAG.sub("", content))) <= LONG_CELL:
        return match[0]
    return f'<td{match["attributes"]}><div class="long">{content}</div></td>'


NO_HEADER = re.compile(r"<thead>\s*<tr>\s*(?:<th[^>]*></th>\s*)+</tr>\s*</thead>\s*")  # the facts tables' blank one


def inlined(match: re.Match, root: Path, vectors: dict[Path, str]) -> str:
    """A picture of the markdown as the page shows it: its SVG as a figure when it has one (in place of the paragraph
    it stood alone in), else its PNG as data."""
    alt, src = unescape(match["alt"]), unescape(match["src"])
    path = root / src
    open_, close = match["open"] or "", match["close"] or ""
    if path in vectors:
        figure = f'<figure class="plot" role="img" aria-label="{escape(alt)}">{vectors[path]}' \
                 f"<figcaption>{escape(alt)}; hover a line or point for its run(s)</figcaption></figure>"
        return figure if open_ and close else open_ + figure + close
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'{open_}<img alt="{escape(alt)}" src="data:image/png;base64,{data}">{close}'


def page(title: str, text: str, root: Path, vectors: dict[Path, str], kind: str = "bench report") -> str:
    """The HTML page of the markdown `text`, whose pictures are found under `root` (their SVGs in `vectors`);
    `kind` ends its title (a report, a comparison)."""
    import markdown

    converter = markdown.Markdown(extensions=["tables", "toc"], output_format="html")
    body = PICTURE.sub(lambda m: inlined(m, root, vectors), CELL.sub(wrapped, NO_HEADER.sub("", converter.convert(text))))
    css, script = ((ASSETS / name).read_text() for name in ("report.css", "report.js"))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)} — {escape(kind)}</title>
<link rel="icon" href="data:,">
<style>
{css}</style>
</head>
<body>
<nav aria-label="contents">
<details open><summary>Contents</summary>
{converter.toc}</details></nav>
<main>
{body}
</main>
<script>
{script}</script>
</body>
</html>
"""
