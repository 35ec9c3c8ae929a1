"""Markdown tables, as the report and its sections write them."""
from __future__ import annotations


def markdown_table(headers: list[str], rows: list[list[str]], text_columns: int = 1) -> str:
    """A GitHub-flavoured markdown table: the first `text_columns` left-aligned, the rest (numbers) right-aligned."""
    align = ["---"] * text_columns + ["---:"] * (len(headers) - text_columns)
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def facts_table(facts: list[tuple[str, str]]) -> str:
    return markdown_table(["", ""], [[k, v] for k, v in facts]).replace("| --- | ---: |", "|---|---|")
