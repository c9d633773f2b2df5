"""Models: the one interface every champion and challenger kind implements, one module per family
(:mod:`.tree`, :mod:`.graph`, :mod:`.anomaly`, :mod:`.champion`), and the kind registry
(:mod:`.registry`). Heavy libraries are imported inside the kinds, when a model fits or loads.
"""
