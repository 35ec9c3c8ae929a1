"""What `bench report --format` can write: each choice and the files it makes per suite (one home for both the
flag's choices and the writer; light to import, as the command line reads it)."""

FORMATS = {"markdown": (".md",), "html": (".html",), "both": (".md", ".html"), "latex": (".tex",), "csv": (".csv",)}
PAPER_SUFFIXES = (".tex", ".csv")  # the comparison tables alone (bench.report.paper), no pictures
