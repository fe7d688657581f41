"""Benchmarks: rates as ratios against a plain aiokafka baseline measured in the same run."""
