"""The ``credit`` command line: the embedded platform (``up``, ``down``, ``restart``, ``status``, ``logs``), tools.

It starts in a fraction of a second: this module and the command groups import only typer at the top; each command
imports what it needs (the launcher, pandas, aiokafka, MLflow ...) when it runs. ``tests/unit/test_cli_startup.py``
keeps it so. Hints it prints are commands a user can run as printed from the clone: ``./credit ...`` (the wrapper
at the repository root, which needs no uv on PATH) or a make target.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from credit_local import launcher
    from credit_local.bootstrap import BootstrapSettings
    from credit_shared.settings import PlatformSettings

app = typer.Typer(help="The credit-scoring platform on this machine.", no_args_is_help=True)

# command groups written separately: each is added when its module is there (an error inside one still shows)
SUBCOMMANDS = {"data": ("credit_local.data_cli", "data_app"), "loans": ("credit_local.loans_cli", "loans_app")}
for _name, (_module, _attribute) in SUBCOMMANDS.items():
    if importlib.util.find_spec(_module) is not None:
        app.add_typer(getattr(importlib.import_module(_module), _attribute), name=_name)


def console() -> Console:
    """The console every command prints to (rich is imported when a command runs, not for ``--help``)."""
    from rich.console import Console

    return Console(log_path=False)


NEXT_STEPS = (
    "Next: ./credit loans publish --count 2500 --rate 100 --malformed 0.05\n"
    "      ./credit loans tail --from-beginning --idle 10\n"
    "Status: ./credit status (or make status)   Logs: ./credit logs NAME   Stop: ./credit down (or make down)"
)


@app.command()
def up() -> None:
    """Start the embedded platform, wait until every process is healthy, print the URLs and the API keys."""
    import logging

    from rich.table import Table

    from credit_local import launcher, platform_home
    from credit_local.bootstrap import BootstrapSettings
    from credit_local.processes import PortBusyError, StartError
    from credit_shared.settings import PlatformSettings

    logging.basicConfig(level=logging.WARNING)
    out, settings = console(), PlatformSettings()
    try:
        local = platform_home.LocalSettings()
    except ValueError as exc:
        out.print(f"[bold red]Invalid CREDIT_LOCAL_* setting:[/] {exc}")
        raise typer.Exit(2) from exc
    with out.status("starting the platform") as spinner:

        def report(stage: str) -> None:
            spinner.update(stage)
            out.log(stage)

        try:
            platform = launcher.up(settings, local, report)
        except platform_home.AlreadyRunningError as exc:
            out.print(f"[yellow]{exc}[/]")
            raise typer.Exit(0) from exc
        except (PortBusyError, StartError, FileNotFoundError) as exc:
            out.print(f"[bold red]Could not start the platform:[/] {exc}")
            raise typer.Exit(1) from exc
    out.print(f"[bold green]Every process is healthy[/] {platform.started_in_s:.1f} s after `credit up`.")
    for title, rows in (("Where", platform.urls), ("Development API keys (header X-API-Key)", platform.keys)):
        table = Table(title=title, show_header=False)
        for name, value in rows.items():
            table.add_row(name, value)
        out.print(table)
    first = BootstrapSettings()
    if first.enabled:
        _first_start(out, settings, platform, first, f"http://127.0.0.1:{local.scoring_port}")
    out.print(f"State and logs: {platform_home.layout_of(settings).home}")
    out.print(NEXT_STEPS, markup=False, highlight=False)


def _first_start(
    out: Console,
    settings: PlatformSettings,
    platform: launcher.Platform,
    first: BootstrapSettings,
    scoring_url: str,
) -> None:
    """Data, a dataset and a champion on the first start, through the gateway; later starts find them."""
    import time

    import httpx
    from rich.progress import (
        BarColumn,
        Progress,
        TaskID,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from credit_local.bootstrap import BootstrapError, bootstrap

    started = time.monotonic()
    with Progress(
        TextColumn("{task.description:<16}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
        TimeRemainingColumn(), TextColumn("{task.fields[detail]}"), console=out,
    ) as progress:  # fmt: skip
        tasks: dict[str, TaskID] = {}

        def report(stage: str, percent: float, detail: str) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=100, detail="")
            progress.update(tasks[stage], completed=percent, detail=detail[:60])

        try:
            api, admin = platform.urls["api"], platform.keys["admin"]
            result = bootstrap(settings, api, admin, first, report, scoring_url=scoring_url)
        except (BootstrapError, httpx.HTTPError) as exc:
            out.print(f"[bold red]The first start could not prepare a champion:[/] {exc}")
            out.print(
                "The platform runs; see `./credit logs ingestion` / `./credit logs training`, then `make up` again."
            )
            raise typer.Exit(1) from exc
    if result.created:
        out.print(
            f"[bold green]Ready[/]: dataset {result.dataset_id}, champion version {result.version} "
            f"(prepared in {time.monotonic() - started:.0f} s)."
        )
    else:
        out.print(f"[bold green]Ready[/]: champion version {result.version} on dataset {result.dataset_id}.")


@app.command()
def down() -> None:
    """Stop exactly what `credit up` started (from its PID files)."""
    from credit_local import launcher, platform_home
    from credit_shared.settings import PlatformSettings

    out = console()
    try:
        stopped = launcher.down(PlatformSettings(), out.log)
    except platform_home.AlreadyRunningError as exc:
        out.print(f"[yellow]{exc}[/]")
        raise typer.Exit(1) from exc
    out.print(f"Stopped {len(stopped)} process(es)." if stopped else "Nothing was running.")


@app.command()
def restart(
    name: Annotated[str, typer.Argument(help="process name, as `credit status` shows it (e.g. scoring)")],
) -> None:
    """Stop one process of the running platform (if it runs), start it again as `credit up` did, wait until healthy."""
    import logging

    from credit_local import launcher
    from credit_local.processes import StartError
    from credit_shared.settings import PlatformSettings

    logging.basicConfig(level=logging.WARNING)
    out = console()
    try:
        record = launcher.restart(PlatformSettings(), name, out.log)
    except ValueError as exc:
        out.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    except (StartError, FileNotFoundError) as exc:
        out.print(f"[bold red]Could not restart {name}:[/] {exc}")
        raise typer.Exit(1) from exc
    out.print(f"[bold green]{name} is healthy[/] (pid {record.pid}).")


@app.command()
def status() -> None:
    """Show each process of the embedded platform: pid, memory (RSS), port, uptime and health.

    Exits with 1 when a process of the platform is not healthy.
    """
    from rich.table import Table

    from credit_local import launcher, platform_home
    from credit_shared.settings import PlatformSettings

    out, settings = console(), PlatformSettings()
    rows = launcher.status(settings)
    if not rows:
        out.print("The platform is not running (start it with `make up`).")
        return
    table = Table(title="Embedded platform")
    for column in ("process", "pid", "state", "health", "RSS (MiB)", "port", "uptime"):
        table.add_column(column, justify="right" if column in {"pid", "RSS (MiB)", "port", "uptime"} else "left")
    for row in rows:
        health = "[green]healthy[/]" if row.healthy else "[red]unhealthy[/]"
        state = "running" if row.alive else "[red]exited[/]"
        uptime = f"{row.uptime_s:.0f} s" if row.alive else ""
        table.add_row(row.name, str(row.pid), state, health, f"{row.rss_mb:.0f}", str(row.port or ""), uptime)
    out.print(table)
    logs = platform_home.layout_of(settings).logs
    out.print(f"Total RSS: {sum(r.rss_mb for r in rows):.0f} MiB   Logs: {logs} (`./credit logs NAME`)")
    unhealthy = [row.name for row in rows if not row.healthy]
    if unhealthy:
        out.print(f"[red]Not healthy:[/] {', '.join(unhealthy)}")
        raise typer.Exit(1)


@app.command()
def logs(
    name: Annotated[str, typer.Argument(help="process name, as `credit status` shows it")],
    lines: Annotated[int, typer.Option("--lines", "-n", help="how many lines from the end")] = 40,
) -> None:
    """Print the end of one process's log."""
    from credit_local import platform_home
    from credit_local.processes import tail
    from credit_shared.settings import PlatformSettings

    out = console()
    path = platform_home.layout_of(PlatformSettings()).logs / f"{name}.log"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.log"))
        out.print(f"[red]No log for {name!r}[/] in {path.parent}; known: {', '.join(known) or 'none'}")
        raise typer.Exit(1)
    out.print(tail(path, lines), markup=False, highlight=False)
