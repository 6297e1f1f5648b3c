"""The ``credit`` command line: the embedded platform and the platform's own tools."""

from __future__ import annotations

import logging

import typer
from rich.console import Console
from rich.table import Table

from credit_local import launcher
from credit_local.processes import PortBusyError, StartError
from credit_shared.settings import PlatformSettings

app = typer.Typer(help="The credit-scoring platform on this machine.", no_args_is_help=True)
console = Console()

try:  # the data tools (synthetic tables, validation) are an optional part of the command line
    from credit_local.data_cli import data_app  # type: ignore[import-not-found,unused-ignore]

    app.add_typer(data_app, name="data")
except ImportError:  # pragma: no cover
    pass


@app.command()
def up() -> None:
    """Start the embedded platform and print the URLs and the development API keys."""
    logging.basicConfig(level=logging.WARNING)
    settings = PlatformSettings()
    with console.status("starting the platform") as spinner:

        def report(stage: str) -> None:
            spinner.update(stage)
            console.log(stage)

        try:
            platform = launcher.up(settings, launcher.LocalSettings(), report)
        except launcher.AlreadyRunningError as exc:
            console.print(f"[yellow]{exc}[/]")
            raise typer.Exit(0) from exc
        except (PortBusyError, StartError) as exc:
            console.print(f"[bold red]Could not start the platform:[/] {exc}")
            raise typer.Exit(1) from exc
    console.print(f"[bold green]Ready[/] in {platform.started_in_s:.1f} s.")
    urls = Table(title="Where", show_header=False)
    for name, url in platform.urls.items():
        urls.add_row(name, url)
    console.print(urls)
    keys = Table(title="Development API keys (header X-API-Key)", show_header=False)
    for role, key in platform.keys.items():
        keys.add_row(role, key)
    console.print(keys)
    console.print(f"State and logs: {settings.home.resolve()}   Stop with: make down")


@app.command()
def down() -> None:
    """Stop exactly what `credit up` started."""
    stopped = launcher.down(PlatformSettings(), console.log)
    console.print(f"Stopped {len(stopped)} process(es)." if stopped else "Nothing was running.")


@app.command()
def status() -> None:
    """Show each process of the embedded platform, its memory and its health."""
    rows = launcher.status(PlatformSettings())
    if not rows:
        console.print("The platform is not running (start it with `make up`).")
        return
    table = Table(title="Embedded platform")
    for column in ("process", "pid", "state", "health", "RSS (MB)", "port"):
        table.add_column(column)
    for row in rows:
        health = "[green]healthy[/]" if row.healthy else "[red]unhealthy[/]"
        state = "running" if row.alive else "[red]exited[/]"
        table.add_row(row.name, str(row.pid), state, health, f"{row.rss_mb:.0f}", str(row.port or ""))
    console.print(table)
    console.print(f"Total RSS: {sum(r.rss_mb for r in rows):.0f} MB")
