"""From a suite and the command line to run specs: the options (options), choosing entries and the recipe
(select), each run's identity (identity) and spec (spec), the checks before anything trains and the plan itself
(prepare), what to do with each run (decide), the row a run starts from (rows)."""
