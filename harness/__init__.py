"""realtime-harness: load-test and conformance-check Socket.IO order-tracking backends."""

__version__ = "0.1.0"
