"""Replication: what makes a run replayable and what a replay compares.

:mod:`.fingerprint` is the content hash of the rows a run read (per column and row chunk, so a
mismatch says where), :mod:`.environment` the machine and package versions, :mod:`.records` the
replay files and the MLflow record of a run read back, :mod:`.agreement` the champion model
re-scored against its production scores. Re-running a run (`challenge replicate`) is
:mod:`challengers.pipeline.replicate`.
"""
