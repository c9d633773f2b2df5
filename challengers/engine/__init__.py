"""Engines: where the steps that touch rows run. The seam between one machine and a cluster.

The steps that read or aggregate rows (scanning with the schema checks, the windows with the label
delay and the known-fraud exclusion, the data fingerprint, the champion's scores, the per-score
sufficient statistics of the metrics) go through :class:`~challengers.engine.base.Engine`, with two
implementations: :mod:`.local` (polars and numpy in this process: the code every run used before the
seam) and :mod:`.spark` (the same steps as Spark jobs; the rows stay on the executors and only
aggregates small enough to hold — per-day sums, per-score counts — come back to the driver).
Everything after those aggregates (the metrics' arithmetic, statistics, findings, report, MLflow) is
shared and does not know which engine ran. :mod:`.rowhash` is the fingerprint kernel both engines
run on their batches. pyspark is imported only inside ``engine/spark*`` modules, and only when a run
asks for Spark.
"""
