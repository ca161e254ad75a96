"""The `csm` command line: serve, api, verify (more parts join as they are built)."""
from __future__ import annotations

import sys

import click

from infra.logging import configure_logging
from infra.settings import get_settings


def _runtime():
    from infra.runtime import start_runtime
    settings = get_settings()
    configure_logging(settings.csm_log_level)
    return start_runtime(settings)


def _serve_api(host: str, port: int) -> None:
    import uvicorn

    from api.app import create_app
    runtime = _runtime()
    try:
        click.echo(f"csm: API on http://{host}:{port} (OpenAPI at /docs)", err=True)
        uvicorn.run(create_app(runtime), host=host, port=port, log_level="warning",
                    access_log=False)
    finally:
        runtime.close()


@click.group()
def main() -> None:
    """csm — customer satisfaction management, event-sourced."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Load a realistic demo data set once.")
def serve(host: str, port: int, demo: bool) -> None:
    """Everything in one process: the API (and, as they exist, projectors and consumers)."""
    if demo:
        click.echo("csm: --demo is not available yet in this version", err=True)
    _serve_api(host, port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def api(host: str, port: int) -> None:
    """The HTTP API alone."""
    _serve_api(host, port)


@main.command()
def verify() -> None:
    """Check the hash chain of every stored event; exit 1 if it is broken."""
    from tqdm import tqdm

    from infra.chain import verify_chain
    runtime = _runtime()
    try:
        with tqdm(unit=" events", file=sys.stderr) as bar:
            report = verify_chain(runtime.pool, progress=lambda n: bar.update(n - bar.n))
    finally:
        runtime.close()
    click.echo(report.as_dict())
    sys.exit(0 if report.ok else 1)
