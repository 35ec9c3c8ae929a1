"""Markdown tables, as the report and its sections write them."""
from __future__ import annotations


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table; numeric-looking columns right-aligned."""
    align = ["---"] + ["---:"] * (len(headers) - 1)
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def facts_table(facts: list[tuple[str, str]]) -> str:
    return markdown_table(["", ""], [[k, v] for k, v in facts]).replace("| --- | ---: |", "|---|---|")
