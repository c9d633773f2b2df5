"""Evaluation: every model scored on the same test rows, with exact fraud metrics, paired intervals
and p-values.

:mod:`.curve` ranks the test rows once (tie groups, cumulative sums per bootstrap replicate),
:mod:`.metrics` holds the metrics (exact, tie-aware, one :class:`~.metrics.Metric` record each: its
function, its bootstrap formula, what it needs, its direction and parameter kind), :mod:`.bootstrap` the paired
Poisson bootstrap with its percentile intervals, p-values and Holm's correction, :mod:`.kernels` its
compiled (numba) passes, :mod:`.delong` DeLong's test for ROC AUC (clustered by entity), and
:mod:`.evaluate` puts them together for the models of a run; :mod:`.twins` compares a model with its
twin (the same model without its kind's added features).
"""
