"""Benchmarks: task loaders, their tools and their scorers."""
