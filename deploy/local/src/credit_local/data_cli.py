"""``credit data``: generate synthetic Home Credit tables and validate a folder of tables."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from credit_shared.homecredit.application import FULL_APPLICANTS

if TYPE_CHECKING:
    from rich.console import Console

data_app = typer.Typer(
    help="Home Credit tables: generate synthetic ones (same schema, any scale) and validate a folder.",
    no_args_is_help=True,
)


def _console() -> Console:
    from rich.console import Console

    return Console()


@data_app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the eight tables into")],
    applicants: Annotated[
        int, typer.Option("--applicants", min=1, help=f"Applicants in total ({FULL_APPLICANTS:,} = full Kaggle size)")
    ] = 20_000,
    seed: Annotated[int, typer.Option("--seed", help="Seed: the same seed and size give identical files")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="csv (as Kaggle ships them) or parquet")] = "csv",
) -> None:
    """Write synthetic application_train/test, bureau, bureau_balance, previous_application, POS_CASH_balance,
    installments_payments and credit_card_balance tables."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.table import Table

    from credit_local.synthetic import generate

    logging.basicConfig(level=logging.WARNING)
    console = _console()
    if fmt not in ("csv", "parquet"):
        console.print(f"[bold red]--format must be csv or parquet, got {fmt!r}[/]")
        raise typer.Exit(2)
    chosen: Literal["csv", "parquet"] = "csv" if fmt == "csv" else "parquet"
    columns = (
        TextColumn("[bold]generating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("applicants"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("synth", total=applicants)
        report = generate(
            out, applicants, seed, fmt=chosen, progress=lambda done, _total: bar.update(task, completed=done)
        )
    table = Table(title=f"{applicants:,} applicants, seed {seed}, {report.seconds:.1f} s")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("file")
    for name, rows in report.rows.items():
        table.add_row(name, f"{rows:,}", str(report.files[name]))
    console.print(table)
    console.print(f"Side-table rows: {report.side_rows:,}")


@data_app.command()
def validate(
    folder: Annotated[Path, typer.Argument(help="Folder holding the Kaggle tables (CSV or Parquet)")],
    sample: Annotated[
        bool, typer.Option("--sample", help="Accept the shared samples' documented deviations (altered extracts)")
    ] = False,
) -> None:
    """Validate every table of a folder against the schema (streamed, bounded memory); exit 1 on any problem."""
    from rich.table import Table

    from credit_shared.homecredit.readers import SchemaError, find_table_file, validate_table
    from credit_shared.homecredit.tables import TABLES

    logging.basicConfig(level=logging.WARNING)
    console = _console()
    mode: Literal["strict", "sample"] = "sample" if sample else "strict"
    table = Table(title=f"Validation of {folder}")
    for heading in ("table", "file", "rows", "result"):
        table.add_column(heading, justify="right" if heading == "rows" else "left")
    failures = 0
    for name in TABLES:
        try:
            path = find_table_file(folder, name, mode=mode)
            with console.status(f"validating {path.name}"):
                report = validate_table(path, TABLES[name], mode=mode)
        except SchemaError as exc:
            failures += 1
            table.add_row(name, "", "", f"[red]{exc}[/]")
            continue
        notes = []
        if report.absent_columns:
            notes.append(f"absent (tolerated): {', '.join(report.absent_columns)}")
        if report.repeated_rows:
            notes.append(f"{report.repeated_rows} repeated rows (tolerated)")
        table.add_row(name, path.name, f"{report.rows:,}", "[green]ok[/]" + (f" - {'; '.join(notes)}" if notes else ""))
    console.print(table)
    if failures:
        console.print(f"[bold red]{failures} table(s) failed validation[/]")
        raise typer.Exit(1)
