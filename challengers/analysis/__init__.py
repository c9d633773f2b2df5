"""Diagnostics beyond the headline metrics: operating points, stability, segments, calibration,
explanations and the curves the plots draw.

Each module is a set of pure functions over numpy/polars inputs (no config objects); :mod:`.suite`
runs them all for a finished evaluation and returns plain dataclasses that the findings, the report
and comparison.json read.
"""
