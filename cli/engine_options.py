"""The --engine and --master options that run, check, audit and replicate share."""

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
