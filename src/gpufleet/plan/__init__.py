"""The application layer: what the edges (cli, commands, dashboard, hook, report) call. It composes data,
models, policies and replays; the edges parse, call it and present.

references  trace references, cluster specs and stores resolved to canonical frames
rundirs     run directories of replays
grids       grids of replays in worker processes or on Ray
replays     one training replay (plain or behind a tenancy file), by names, and the tenancy comparison
policies    every policy kind and its registry (the CLI's, the dashboard's and the docs' lists come from it)
whatif      the serving replay behind the hook's /v1/what-if
downstream  what runtime predictions are worth to SJF/QSSF (the backtest's replays)
capacity    the fewest nodes that keep the p95 wait under a target
demo        the built-in synthetic fleet and workload, end to end (`gpufleet demo`)
modelstore  trained models saved to and read from directories

Nothing is imported here: `gpufleet --help` must not pay for polars or the simulator.
"""
