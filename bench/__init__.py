"""Benchmarks of the pipeline against the best alternative tool for each step.

``make bench`` (full profile) writes ``bench/results.md`` and ``bench/results.json``;
``make bench-quick`` runs the same code on small inputs (a CI test checks it runs end
to end). Timings are never asserted in the test suite: machines are shared and noisy.
"""
