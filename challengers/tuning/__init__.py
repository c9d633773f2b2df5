"""Tuning: Optuna searches over a challenger's tree, on time-respecting validation slices of the
training window.

:mod:`.search` runs a tuning task (the study, pruning, the refit), :mod:`.records` holds the task
and its result, :mod:`.space` the default search spaces and the config's overrides, :mod:`.study`
the resumable sqlite-backed study and its summary.
"""
