"""Models: the one interface every champion and challenger kind implements (:mod:`.base`), one
module per family (:mod:`.tree`, :mod:`.graph`, :mod:`.anomaly`, :mod:`.champion`), the kinds' YAML
sections (:mod:`.params`; each kind's own ``Params`` lives on its class), their optional abilities
(:mod:`.abilities`), the tree libraries (:mod:`.trees`) and the kind registry (:mod:`.registry`),
from which the config builds its challenger union. Heavy libraries are imported inside the kinds,
when a model fits or loads.
"""
