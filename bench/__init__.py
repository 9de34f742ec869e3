"""Benchmarks of the bundle, run side by side with their baselines: ``make bench``."""
