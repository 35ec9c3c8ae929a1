"""What to run, as data: the training recipe (recipe), what a suite is (suite), the built-in suites (builtin),
suite files (suitefile) and finding a suite by name or path (lookup)."""
