"""What a results folder holds and how it reads: the parquet schema (schema), every path under the folder
(paths), atomic shards (shards), the run statuses (status), how each metric is shown (metrics), the vocabulary
of the recorded speed settings (speed) and the hashes of a stored identity (identity)."""
