"""The `csm` command line: serve, api, project, relay, inbound, deadlines, rebuild, verify,
grant-bi, dlq replay, kafka."""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from datetime import UTC, datetime

import click
import structlog

from csm.infra.logging import configure_logging
from csm.infra.settings import get_settings

log = structlog.get_logger()


def _logging():
    """JSON lines on stderr, each naming the part (the command: `serve`, `relay`, `dlq`, …)."""
    settings = get_settings()
    ctx = click.get_current_context(silent=True)
    part = ctx.command_path.split(" ", 1)[-1].split(" ")[0] if ctx else "csm"
    configure_logging(settings.csm_log_level, part)
    return settings


def _runtime():
    from csm.infra.runtime import start_runtime
    return start_runtime(_logging())


def _serve_api(host: str, port: int, projectors: bool) -> None:
    import uvicorn

    from csm.api.app import create_app
    runtime = _runtime()
    try:
        if projectors:
            if runtime.settings.kafka_bootstrap_servers:
                runtime.start_kafka_parts({"relay", "project", "inbound"})
            else:
                runtime.start_projectors()
            runtime.start_deadlines()
        log.info("api_starting", url=f"http://{host}:{port}", openapi=f"http://{host}:{port}/docs")
        # log_config=None: uvicorn installs no handlers or formatters of its own, so its
        # records (uvicorn.error, uvicorn.access) go to the same JSON writer as csm's.
        server = uvicorn.Server(uvicorn.Config(create_app(runtime), host=host, port=port,
                                               log_config=None, log_level=None,
                                               access_log=False))
        # uvicorn re-raises SIGTERM after its shutdown, which would skip our cleanup (and
        # leave the embedded PostgreSQL running): take the signals ourselves.
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: setattr(server, "should_exit", True))
        server.run()
    finally:
        runtime.close()


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    done.wait()


@click.group()
def main() -> None:
    """csm — customer satisfaction management, event-sourced."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True, help="Load a realistic demo data set once.")
def serve(host: str, port: int, demo: bool) -> None:
    """Everything in one process: API, projectors, deadline watcher (with Kafka: relay, inbound)."""
    if demo:
        click.echo("csm: --demo is not available yet in this version", err=True)
    _serve_api(host, port, projectors=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def api(host: str, port: int) -> None:
    """The HTTP API alone (run `csm project` beside it)."""
    _serve_api(host, port, projectors=False)


@main.command()
@click.argument("names", nargs=-1)
def project(names: tuple[str, ...]) -> None:
    """Run projectors alone (all, or the NAMES given) until stopped."""
    runtime = _runtime()
    try:
        runtime.start_read_side(list(names) or None)
        _wait_for_signal()
    finally:
        runtime.close()


def _kafka_part(part: str) -> None:
    runtime = _runtime()
    if not runtime.settings.kafka_bootstrap_servers:
        runtime.close()
        raise SystemExit(f"csm {part}: KAFKA_BOOTSTRAP_SERVERS is not set")
    try:
        runtime.start_kafka_parts({part})
        _wait_for_signal()
    finally:
        runtime.close()


@main.command()
def relay() -> None:
    """Publish the event store to Kafka (csm.events) until stopped."""
    _kafka_part("relay")


@main.command()
def inbound() -> None:
    """Turn channel messages on csm.inbound into commands until stopped."""
    _kafka_part("inbound")


@main.command()
def deadlines() -> None:
    """Run the deadline watcher alone until stopped."""
    runtime = _runtime()
    try:
        runtime.start_deadlines()
        _wait_for_signal()
    finally:
        runtime.close()


@main.command()
@click.option("--partitions", default=6, show_default=True, type=int)
def kafka(partitions: int) -> None:
    """Run a local single-node Kafka broker for development (jars from Maven Central).

    Exits 1, naming the broker's log (kept), when the broker dies."""
    from csm.infra.kafka_broker import run
    _logging()
    sys.exit(run(partitions=partitions))


def _timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


@main.group()
def dlq() -> None:
    """The dead-letter topic of the inbound consumer."""


@dlq.command()
@click.option("--since", metavar="TIMESTAMP", callback=lambda _c, _p, v: _timestamp(v),
              help="Only dead letters written at or after this ISO 8601 time (UTC unless it "
                   "says), e.g. 2026-12-01T08:00:00+08:00.")
@click.option("--filter", "match", metavar="TYPE_OR_TEXT",
              help="Only dead letters of this message type, or whose error or bytes hold this text.")
def replay(since: datetime | None, match: str | None) -> None:
    """Send dead letters back to the inbound topic after a fix (repeating it is harmless)."""
    import orjson

    from csm.consumers.dlq_replay import replay as run_replay
    s = _logging()
    if not s.kafka_bootstrap_servers:
        raise SystemExit("csm dlq replay: KAFKA_BOOTSTRAP_SERVERS is not set")
    done = run_replay(s.kafka_bootstrap_servers, s.csm_topic_dlq, s.csm_topic_inbound, since, match)
    log.info("dlq_replayed", **done.as_dict(), since=since.isoformat() if since else None,
             filter=match)
    click.echo(orjson.dumps(done.as_dict()).decode())


@main.command()
@click.argument("names", nargs=-1)
def rebuild(names: tuple[str, ...]) -> None:
    """Rebuild read models (all, or NAMES) into fresh tables and swap them in atomically."""
    from tqdm import tqdm

    from csm.projections.rebuild import rebuild as run_rebuild
    from csm.projections.registry import select
    from csm.projections.store import head_position
    runtime = _runtime()
    try:
        chosen = select(list(names) or None)
        with tqdm(total=head_position(runtime.pool), unit=" events", file=sys.stderr,
                  desc="rebuild " + ",".join(p.name for p in chosen)) as bar:
            position = run_rebuild(runtime.pool, chosen, runtime.settings.zone,
                                   progress=lambda _name, pos: bar.update(pos - bar.n))
        click.echo(f"rebuilt {', '.join(p.name for p in chosen)} at position {position}")
    finally:
        runtime.close()


@main.command()
def verify() -> None:
    """Check the hash chain of every stored event; exit 1 if it is broken."""
    from tqdm import tqdm

    from csm.infra.chain import verify_chain
    runtime = _runtime()
    try:
        with tqdm(unit=" events", file=sys.stderr) as bar:
            report = verify_chain(runtime.pool, progress=lambda n: bar.update(n - bar.n))
    finally:
        runtime.close()
    click.echo(report.as_dict())
    sys.exit(0 if report.ok else 1)


@main.command("grant-bi")
@click.argument("role")
@click.option("--password", envvar="CSM_BI_PASSWORD", help="Make it a login role with this password.")
def grant_bi(role: str, password: str | None) -> None:
    """Create (or fix) a PostgreSQL role that can read csm_read and nothing else."""
    from csm.infra.bi_role import grant_bi_role
    runtime = _runtime()
    try:
        grant_bi_role(runtime.pool, role, password)
    finally:
        runtime.close()
    click.echo(f"role {role!r} can read schema csm_read (tables and views) and nothing else")
