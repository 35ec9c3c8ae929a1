"""`bench report`: which rows count and how they group (experiments), the judgements (judge) apart from the
rendering (tables, sections, published, plots, markdown), the statistics (stats), and writing the files (write).
It reads a results folder only, never the code's tables of suites, recipes or models."""
