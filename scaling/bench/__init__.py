"""Throughput and speed benchmarks: `train` (training steps per width), `pack` (runs per hour per
pack size), `fit` (fits per second). Each reports ratios against a reference timed in the same
process."""
