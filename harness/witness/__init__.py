"""The witness: a few passive sockets in a process of their own, beside every load run.

A load generator that is busy adds its own delay to every latency it measures, and nothing
inside it can prove its figures right. The witness can: a small asyncio process (no Locust,
no gevent, another Socket.IO client than the users') whose only work is to timestamp what
its sockets receive. One socket is a store owner; a few more are second tabs of sampled
customers and drivers, in the same rooms as the users they mirror. For every event both a
user and its witness received, the user's receipt time minus the witness's is the delay
the generator added; the witness's own emit-to-delivery is the server's latency.

* `process.py`: the witness process (`python -m harness.witness`), driven over its stdin
  and stdout in JSON lines;
* `book.py`: the matching and the figures (no I/O), used by the Locust process that keeps
  the run's books;
* `harness/load/witness_link.py`: the Locust side, which starts the process and feeds both.
"""
