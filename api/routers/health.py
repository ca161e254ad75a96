"""Liveness, readiness and metrics; no key needed."""
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import RuntimeDep

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
    except Exception as exc:  # any failure to reach the store means not ready
        return JSONResponse({"status": "unavailable", "store": type(exc).__name__},
                            status_code=503, headers={"Retry-After": "1"})
    return {"status": "ready", "store": "ok", "position": head["position"] if head else 0,
            "projections": [p() for p in getattr(rt, "readiness", [])]}


@router.get("/metrics")
def metrics():
    """Prometheus metrics."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
