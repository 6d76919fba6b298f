"""Benchmarks for engmon; run them all with `make bench` (`python -m bench`)."""
