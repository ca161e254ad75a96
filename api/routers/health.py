"""Liveness, readiness and metrics; no key needed."""
from fastapi import APIRouter, Response
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from csm.api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/health")
def health():
    """The process is alive."""
    return {"status": "ok"}


@router.get("/ready")
def ready(rt: RuntimeDep):
    """The event store answers; with projectors running, their positions and lag."""
    try:
        with rt.pool.connection(timeout=2) as conn:
            head = conn.execute("SELECT position FROM csm_chain_head WHERE id = 1").fetchone()
            status = conn.execute(
                "SELECT name, position, updated_at FROM csm_read.projection_status ORDER BY name"
            ).fetchall() if rt.projectors else []
    except Exception as exc:  # any failure to reach the store means not ready
        return JSONResponse({"status": "unavailable", "store": type(exc).__name__},
                            status_code=503, headers={"Retry-After": "1"})
    position = head["position"] if head else 0
    projections = [{**p, "lag": max(0, position - p["position"])} for p in status]
    running = rt.projectors is None or rt.projectors.running()
    body = {"status": "ready" if running else "degraded", "store": "ok", "position": position,
            "projectors": "running" if rt.projectors and running else
            ("stopped" if rt.projectors else "not in this process"),
            "projections": projections}
    return JSONResponse(jsonable_encoder(body), status_code=200 if running else 503)


@router.get("/metrics")
def metrics():
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
