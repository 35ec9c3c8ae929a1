"""Markdown tables, as the report and its sections write them; and text from outside (a user's file, a path, a folder
name, a parquet cell) as markdown that shows it as typed."""
from __future__ import annotations

# What could make markup of a text: HTML (`<img onerror=…>`, entities), links and pictures (`[x](javascript:…)`,
# `![](/etc/x)`), code spans, and the backslash that would undo an escape. `<`, `>` and `&` as entities (Python-
# Markdown has no backslash escape for `<`); the rest with a backslash (CommonMark's and Python-Markdown's).
MARKUP = {"\\": "\\\\", "&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "\\[", "]": "\\]", "`": "\\`"}
ESCAPES = str.maketrans(MARKUP)
ESCAPES_BUT_CODE = str.maketrans({k: v for k, v in MARKUP.items() if k != "`"})


def plain(text: object, code: bool = False) -> str:
    """`text` from outside as markdown that every viewer shows as typed, on one line (a line break would end a table
    row or start a block): no HTML, no link, no picture. `code`: a text that holds bench's own `code` marks keeps
    them (a user's backtick then starts a code span too, which shows the rest as text)."""
    one_line = " ".join(str(text).splitlines())
    return one_line.translate(ESCAPES_BUT_CODE if code else ESCAPES)


def markdown_table(headers: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    """A GitHub-flavoured markdown table: the first `text_columns` left-aligned, the rest (numbers) right-aligned."""
    align = ["---"] * text_columns + ["---:"] * (len(headers) - text_columns)
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def facts_table(facts: list[tuple[str, str]]) -> str:
    return markdown_table(["", ""], [[k, v] for k, v in facts]).replace("| --- | ---: |", "|---|---|")
