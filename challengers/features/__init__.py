"""Features any kind can reuse: leakage-safe entity-graph and temporal features (:mod:`.graph`,
:mod:`.temporal`, :mod:`.snapshots`), and outlier scores from PyOD detectors (:mod:`.outliers`, with
the detector catalogue in :mod:`.detectors`). Every feature of a row is computed from strictly earlier
rows and labels older than the label delay.
"""
