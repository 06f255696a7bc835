"""The application layer: what the edges (cli, commands, dashboard, hook, report) call. It composes data,
models, policies and replays; the edges parse, call it and present.

references  trace references, cluster specs and stores resolved to canonical frames
rundirs     run directories of replays
grids       grids of replays in worker processes or on Ray
replays     one training replay (plain or behind a tenancy file), by names, and the tenancy comparison
policies    every policy kind and its registry (the CLI's, the dashboard's and the docs' lists come from it)
whatif      the serving replay behind the hook's /v1/what-if
downstream  what runtime predictions are worth to SJF/QSSF (the backtest's replays)
capacity    the cheapest nodes to add (per candidate GPU type) for a wait target; capacity_probe one probe's
            replay and measure, capacity_ask the question by names (CLI, What-if page); growth arrival growth
demo        the built-in synthetic fleet and workload, end to end (`gpufleet demo`)
modelstore  trained models saved to and read from directories

Nothing is imported here: `gpufleet --help` must not pay for polars or the simulator.
"""
