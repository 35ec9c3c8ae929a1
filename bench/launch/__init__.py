"""Launchers: how the runs of one `bench run` reach a worker process. One interface (base), one module per
launcher — `local` (this machine, one run at a time or a pool of --jobs) and `slurm` (a job array through
submitit) — the child process itself (process), and the row of a run that ended without writing one (endings).
A new launcher is one module here that defines LAUNCHER (bench.launch.base.LauncherKind)."""
