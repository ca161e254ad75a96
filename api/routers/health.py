"""Liveness, readiness and metrics; no key needed."""
import orjson
from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from csm.api.answers import Alive, Readiness
from csm.api.deps import RuntimeDep
from csm.api.openapi import NOT_READY
from csm.infra.readiness_metrics import render

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Alive)
def health():
    """The process is alive."""
    return {"status": "ok"}


@router.get("/ready", response_model=Readiness, responses=NOT_READY)
def ready(rt: RuntimeDep):
    """The whole picture from PostgreSQL: every projection's position, lag and failure, the
    relay's and the inbound consumer's lag, dead letters, the deadline watcher's last scan,
    every part's heartbeat. 503 with `problems` naming each part that is failed or stalled."""
    code, body = rt.readiness()
    return Response(orjson.dumps(body), status_code=code, media_type="application/json",
                    headers={"Retry-After": "1"} if code == 503 else None)


@router.get("/metrics", response_class=PlainTextResponse)
def metrics(rt: RuntimeDep):
    """Prometheus metrics: this process's own, and the readiness picture as gauges."""
    return Response(render(*rt.readiness()), media_type=CONTENT_TYPE_LATEST)
