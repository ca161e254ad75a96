"""The `csm` command line: serve, api, project, relay, inbound, deadlines, rebuild, verify,
grant-bi, dlq replay, kafka, calendar-days, demo, import, report."""
from __future__ import annotations

import json
import signal
import sys
import threading
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version

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
    from csm.consumers.composition import start_runtime
    return start_runtime(_logging())


def _serve_api(host: str, port: int, projectors: bool, demo: bool = False,
               workers: int = 1) -> None:
    from csm.consumers.api_server import api_server
    runtime = _runtime()
    if workers == 1:
        runtime.part("api")
    try:
        if demo:  # before the deadline watcher starts: the demo plans its breaches itself
            log.info("demo_loaded", **_load_demo(runtime, None, _demo_end()))
        if projectors:
            if runtime.settings.kafka_bootstrap_servers:
                runtime.start_kafka_parts({"relay", "project", "inbound"})
            else:
                runtime.start_projectors()
            runtime.start_deadlines()
            runtime.start_checkpointer()
        if workers > 1:  # the parts above stay here, in the parent; the API runs in workers
            from csm.consumers.api_workers import serve_workers
            return serve_workers(runtime, host, port, workers,
                                 click.get_current_context().info_name or "api")
        log.info("api_starting", url=f"http://{host}:{port}", openapi=f"http://{host}:{port}/docs")
        server = api_server(runtime, host, port)
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


def _version() -> str:
    try:
        return version("csm")
    except PackageNotFoundError:
        return "unknown (not installed; run `pip install .`)"


def health_options(command):
    """`--health-port` / `--health-host`: /health, /ready and /metrics of a part without API."""
    command = click.option("--health-host", default="127.0.0.1", show_default=True,
                           envvar="CSM_HEALTH_HOST",
                           help="Address of the health endpoints.")(command)
    return click.option("--health-port", type=int, default=None, envvar="CSM_HEALTH_PORT",
                        help="Serve /health, /ready and /metrics on this port (default: off; "
                             "0: any free port).")(command)


def _serve_health(runtime, host: str, port: int | None) -> None:
    if port is None:
        return
    from csm.infra.health_server import HealthServer
    server = HealthServer(runtime, host, port).start()
    runtime.stoppers.insert(0, server.stop)  # stopped last: a stopping part still answers
    click.echo(f"csm: health on http://{host}:{server.port} (/health, /ready, /metrics)",
               err=True)


def workers_option(command):
    """`--workers N`: the API served by N processes on the same port (1: in this process)."""
    return click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
                        envvar="CSM_API_WORKERS",
                        help="Serve the API from this many worker processes on the port, each "
                             "with its own connections; 1 serves it in this process.")(command)


@click.group()
@click.version_option(_version(), prog_name="csm")
def main() -> None:
    """csm — customer satisfaction management, event-sourced."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--demo", is_flag=True,
              help="First load a year of demo data ending now, as `csm demo` does (once).")
@workers_option
def serve(host: str, port: int, demo: bool, workers: int) -> None:
    """Everything in one process: API, projectors, deadline watcher (with Kafka: relay, inbound).

    With --workers N the API is served by N worker processes; the rest runs once, here."""
    _serve_api(host, port, projectors=True, demo=demo, workers=workers)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@workers_option
def api(host: str, port: int, workers: int) -> None:
    """The HTTP API alone (run `csm project` beside it)."""
    _serve_api(host, port, projectors=False, workers=workers)


@main.command()
@click.argument("names", nargs=-1)
@health_options
def project(names: tuple[str, ...], health_port: int | None, health_host: str) -> None:
    """Run projectors alone (all, or the NAMES given) until stopped."""
    runtime = _runtime()
    try:
        _serve_health(runtime, health_host, health_port)
        runtime.start_read_side(list(names) or None)
        _wait_for_signal()
    finally:
        runtime.close()


def _kafka_part(part: str, health_host: str, health_port: int | None) -> None:
    runtime = _runtime()
    if not runtime.settings.kafka_bootstrap_servers:
        runtime.close()
        raise SystemExit(f"csm {part}: KAFKA_BOOTSTRAP_SERVERS is not set")
    try:
        _serve_health(runtime, health_host, health_port)
        runtime.start_kafka_parts({part})
        _wait_for_signal()
    finally:
        runtime.close()


@main.command()
@health_options
def relay(health_port: int | None, health_host: str) -> None:
    """Publish the event store to Kafka (csm.events) until stopped."""
    _kafka_part("relay", health_host, health_port)


@main.command()
@health_options
def inbound(health_port: int | None, health_host: str) -> None:
    """Turn channel messages on csm.inbound into commands until stopped."""
    _kafka_part("inbound", health_host, health_port)


@main.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--rejects", type=click.File("w", lazy=False),
              help="Write each rejected line here (emptied first), as a JSON line with its "
                   "line number and reason (default: stderr).")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 100_000),
              help="Lines decided and recorded together in one transaction.")
def import_(file, rejects, batch: int) -> None:
    """Record a history of inbound messages, one JSON line each (FILE, or - for stdin); print
    a JSON summary; exit 1 if a line was rejected. Running it again records nothing new."""
    from csm.consumers.bulk_import import import_file
    runtime = _runtime()
    try:
        summary = import_file(runtime.pool, runtime.app, file, rejects, batch)
    finally:
        runtime.close()
    click.echo(json.dumps(summary.as_dict()))
    sys.exit(1 if summary.rejected else 0)


@main.command()
@health_options
def deadlines(health_port: int | None, health_host: str) -> None:
    """Run the deadline watcher (and the checkpointer) alone until stopped."""
    runtime = _runtime()
    try:
        _serve_health(runtime, health_host, health_port)
        runtime.start_deadlines()
        runtime.start_checkpointer()
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


def _parsed(value: str, what: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an {what}") from None


def _timestamp(value: str | None) -> datetime | None:
    if value is None:
        return None
    at = _parsed(value, "ISO 8601 time")
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


def _as_of(_ctx, _param, value: str | None):
    if value is None:
        return None
    moment = _parsed(value, "RFC 3339 timestamp")
    if moment.tzinfo is None:
        raise click.BadParameter(f"{value!r} has no offset (e.g. +08:00 or Z)")
    if moment > datetime.now(UTC):
        raise click.BadParameter(f"{value!r} lies in the future")
    return moment


def _snapshot(runtime, as_of) -> None:
    from tqdm import tqdm

    from csm.projections.snapshots import build_snapshot, request_snapshot
    snap = request_snapshot(runtime.pool, as_of)
    with tqdm(total=snap["position"], unit=" events", file=sys.stderr,
              desc=f"snapshot {snap['snapshot_id']}") as bar:
        built = build_snapshot(runtime.pool, snap["snapshot_id"], runtime.settings.zone,
                               progress=lambda pos: bar.update(pos - bar.n))
        bar.update(snap["position"] - bar.n)
    click.echo(json.dumps({k: built[k] for k in ("snapshot_id", "status", "position")}
                          | {"as_of": built["as_of"].isoformat()}))


@main.command()
@click.argument("names", nargs=-1)
@click.option("--as-of", callback=_as_of, metavar="TIMESTAMP",
              help="Instead, build every read model as of this moment into a snapshot of its "
                   "own (queries read it with snapshot=<id>).")
def rebuild(names: tuple[str, ...], as_of) -> None:
    """Rebuild read models (all, or NAMES) into fresh tables and swap them in atomically."""
    from tqdm import tqdm

    from csm.projections.rebuild import rebuild as run_rebuild
    from csm.projections.registry import select
    from csm.projections.store import head_position
    if as_of is not None and names:
        raise click.UsageError("a snapshot (--as-of) holds every read model; name none")
    runtime = _runtime()
    try:
        if as_of is not None:
            return _snapshot(runtime, as_of)
        chosen = select(list(names) or None)
        with tqdm(total=head_position(runtime.pool), unit=" events", file=sys.stderr,
                  desc="rebuild " + ",".join(p.name for p in chosen)) as bar:
            position = run_rebuild(runtime.pool, chosen, runtime.settings.zone,
                                   progress=lambda _name, pos: bar.update(pos - bar.n))
        click.echo(f"rebuilt {', '.join(p.name for p in chosen)} at position {position}")
    finally:
        runtime.close()


def _demo_end() -> datetime:
    """Now, to the minute: the default last moment of the demo year."""
    return datetime.now(UTC).replace(second=0, microsecond=0)


def _demo_end_option(_ctx, _param, value: str | None) -> datetime | None:
    end = _timestamp(value)
    if end is not None and end > datetime.now(UTC):
        raise click.BadParameter(f"{value!r} lies in the future")
    return end


def _load_demo(runtime, seed: int | None, end: datetime) -> dict:
    """Loads the demo year with a progress bar on stderr; its summary."""
    from tqdm import tqdm

    from csm.consumers.demo import DEFAULT_SEED, DemoRefused, load_demo
    with tqdm(unit=" commands", file=sys.stderr, desc="demo") as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)
        try:
            return load_demo(runtime, seed=DEFAULT_SEED if seed is None else seed, end=end,
                             progress=progress)
        except DemoRefused as exc:
            raise click.ClickException(str(exc)) from None


@main.command()
@click.option("--seed", type=int, default=None,
              help="Another seed, another year just as realistic (default: 1).")
@click.option("--end", metavar="TIMESTAMP", callback=_demo_end_option,
              help="The demo year's last moment, ISO 8601 (UTC unless it says); "
                   "default: now, to the minute.")
def demo(seed: int | None, end: datetime | None) -> None:
    """Load a year of demo data into the store, once; print a summary as JSON."""
    runtime = _runtime()
    try:
        summary = _load_demo(runtime, seed, end or _demo_end())
    finally:
        runtime.close()
    click.echo(json.dumps(summary))


@main.command()
@click.option("--checkpoint", "checkpoint_file", type=click.Path(exists=True, dir_okay=False),
              help="A checkpoint saved from GET /v1/audit/checkpoints (one item, or the whole "
                   "answer): prove with the public key alone that today's log extends it.")
@click.option("--public-key", help="With --checkpoint: csm's public key (base64 or PEM, or a "
                                   "file holding it or GET /v1/audit/public-key's answer); "
                                   "default: the one of CSM_SIGNING_KEY.")
def verify(checkpoint_file: str | None, public_key: str | None) -> None:
    """Check every stored event (hash chain, seals, checkpoints); print the report as JSON;
    exit 1 if anything is wrong. With --checkpoint, no key but the public one is used."""
    from tqdm import tqdm

    from csm.infra.chain import verify_against, verify_chain
    with tqdm(unit=" events", file=sys.stderr, desc="verify") as bar:
        def progress(n: int) -> None:
            bar.update(n - bar.n)
        if checkpoint_file is None:
            runtime = _runtime()
            try:
                report = verify_chain(runtime.pool, runtime.audit, progress)
            finally:
                runtime.close()
        else:
            from csm.infra.outside_audit import read_checkpoints, read_public_key, store_pool
            settings = _logging()
            try:
                saved = read_checkpoints(checkpoint_file)
                key = read_public_key(settings, public_key)
            except ValueError as e:
                raise click.UsageError(str(e)) from None
            with store_pool(settings) as pool:
                report = verify_against(pool, saved, key, progress)
    click.echo(json.dumps(report.as_dict()))
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


def _hours(_ctx, _param, value: str) -> list[list[str]]:
    intervals = [part.split("-") for part in value.split(",")]
    if not all(len(i) == 2 and all(i) for i in intervals):
        raise click.BadParameter(f"{value!r} is not HH:MM-HH:MM[,HH:MM-HH:MM]")
    return intervals


@main.command("calendar-days")
@click.option("--country", required=True, help="ISO 3166 code; CN includes make-up workdays.")
@click.option("--year", required=True, type=click.IntRange(1900, 9999))
@click.option("--subdivision", default=None, help="A state or province, where the country has "
                                                  "its own holidays there.")
@click.option("--hours", "workday", default="09:00-18:00", show_default=True, callback=_hours,
              help="The open hours of a make-up working day.")
def calendar_days(country: str, year: int, subdivision: str | None,
                  workday: list[list[str]]) -> None:
    """Print a year's holidays (and China's make-up workdays) as a calendar's `days`."""
    from csm.infra.holiday_days import holiday_days
    try:
        days = holiday_days(country, year, workday, subdivision)
    except (NotImplementedError, ValueError, KeyError) as exc:
        raise click.ClickException(str(exc) or f"no holidays known for {country!r}") from None
    lines = [f"  {json.dumps(day)}: {json.dumps(days[day])}" for day in sorted(days)]
    click.echo("{\n" + ",\n".join(lines) + "\n}")


def _month(_ctx, _param, value: str) -> str:
    from csm.api.dashboard.figures import MONTH
    if not MONTH.match(value):
        raise click.BadParameter(f"{value!r} is not a month YYYY-MM (1901 on)")
    return value


@main.command()
@click.option("--period", required=True, callback=_month, metavar="YYYY-MM",
              help="The month to report on.")
@click.option("--department", "department_id", metavar="ID", help="Only this department.")
@click.option("--format", "fmt", type=click.Choice(["html", "pdf"]), default="html",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Default: csm-report-<period>[-<department>].<format>")
def report(period: str, department_id: str | None, fmt: str, output: str | None) -> None:
    """Write the monthly report (the figures of the query API, as charts) to a file."""
    from csm.api.dashboard.figures import Scope
    from csm.api.dashboard.source import QueryFailed
    from csm.consumers.report_file import write_report
    runtime = _runtime()
    try:
        path = write_report(runtime, Scope.parse(period, department_id), fmt, output)
    except QueryFailed as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        runtime.close()
    click.echo(str(path))
