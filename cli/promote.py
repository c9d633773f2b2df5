"""`challenge promote`."""

from __future__ import annotations

import typer

from challengers.cli.errors import reports_errors, stdout_may_close

app = typer.Typer()


@app.command("promote")
@reports_errors
def promote_command(
    run_id: str = typer.Argument(
        ..., help="The `challenge run` (parent run id) whose evidence justifies it."
    ),
    model: str = typer.Argument(..., help="The model's name in that run, e.g. lgbm."),
    alias: str = typer.Option(
        "champion",
        "--alias",
        help="The registry alias to move: letters, digits, _ and -; not latest or v<number>, "
        "which MLflow reserves.",
    ),
    name: str | None = typer.Option(
        None, "--name", help="The registered model, when the run registered it under several."
    ),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="MLflow store (default: MLFLOW_TRACKING_URI, ./mlflow.db)."
    ),
) -> None:
    """Move a registry alias (default: champion) to the version of MODEL that run RUN_ID
    registered, recording RUN_ID on the version.

    The version gets the tags challenge.promoted_by_run and challenge.promoted_to; the version the
    alias leaves loses them for challenge.superseded (where the alias went). Runs register
    their challengers with `challenge run --register`; they never promote by themselves. A run
    that failed or was killed justifies no promotion: RUN_ID must have finished.

    Example:

      challenge promote 3f2a9c0d1e8b4f7a9c0d1e8b4f7a9c0d lgbm --alias champion
    """
    from challengers.tracking import require_store, resolve_uri
    from challengers.tracking.registry import check_promotion, promote

    check_promotion(alias, name)  # before the store is opened
    uri = resolve_uri(tracking_uri)
    require_store(uri)
    done = promote(uri, run_id.strip(), model, alias, name)
    if done.previous == done.version:
        moved = "unchanged: it pointed there already"
    else:
        moved = f"from version {done.previous}" if done.previous else "new alias"
    with stdout_may_close():
        typer.echo(
            f"{done.name}@{done.alias} -> version {done.version} ({moved}); justified by run "
            f"{done.run_id}"
        )
