"""Load runs on Locust: simulated users, the per-process run context, the plugin, reports.

Most of `harness.load` imports Locust, which monkey-patches the process it is imported in
(gevent): never import it from the server, the contract or asyncio code. The pure pieces say
so in their docstrings and are tested in the tests' own process: `followed` (what a user
follows and reads again after a drop), `share` (which store owner moves an order),
`in_flight` (the answers a process's users await), `outbox` (the records queued for the
books), `triggers` (trigger-to-delivery pairing), `drain` (the end of a run, as
decisions), `workers` (the master's view of its workers), `user_random` (a user's random
stream), `options`, `open_files` (the open files a process needs, read by `harness load`)
and `unpatched` (the standard library's own functions).
"""
