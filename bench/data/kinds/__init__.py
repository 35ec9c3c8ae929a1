"""One module per data set kind; each lists its kinds in `KINDS` (bench.data.kind.DataKind). A new kind is one new
module here: bench.data.registry finds it, the CLI's help and the checks follow."""
