"""Benchmarks of xfer against reference clients on the integration bed's real servers (not tests)."""
