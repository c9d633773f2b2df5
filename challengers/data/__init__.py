"""Data: lazy loading (polars scans of parquet/csv files and globs, only the needed columns), schema
and value checks, the split into time windows (label delay, known-fraud exclusion) and the float32
feature matrices the models read.

:mod:`.frames` scans, loads and checks columns; :mod:`.split` cuts the windows; :mod:`.checks`
holds the checks that need rows (test-row completeness, notes for `challenge check`).
"""
