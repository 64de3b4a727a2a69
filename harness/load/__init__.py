"""Load runs on Locust: simulated users, the per-process run context, the plugin, reports.

Everything under `harness.load` imports Locust, which monkey-patches the process it is
imported in (gevent): never import it from the server, the contract or asyncio code.
"""
