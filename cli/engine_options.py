"""Options several commands share: --engine and --master (run, check, audit, replicate), and
--allow-pickle (run, check)."""

from __future__ import annotations

import typer

ENGINE = typer.Option(
    None,
    "--engine",
    metavar="local|spark",
    help="Where rows are loaded and fingerprinted (default: the config's engine.kind).",
)
MASTER = typer.Option(
    None,
    "--master",
    metavar="URL",
    help="Spark master: local[2], spark://host:7077, yarn, ... (implies --engine spark).",
)
ALLOW_PICKLE = typer.Option(
    False,
    "--allow-pickle",
    help="Has no effect: no pickle is ever loaded (unpickling runs code); a pickled champion is "
    "refused with or without this flag.",
)
