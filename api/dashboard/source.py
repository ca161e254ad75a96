"""The query API as the pages read it: in-process requests carrying the caller's key.

The dashboard and the report go through the same routes, roles and checks as any
BI tool, so every figure they show is one the API answers.
"""
from __future__ import annotations

from typing import Any

import httpx


class QueryFailed(Exception):
    """The query API refused or failed a request the page needed."""

    def __init__(self, path: str, status: int, detail: str):
        super().__init__(f"{path}: {status} {detail}")
        self.status = status
        self.detail = detail


class QuerySource:
    def __init__(self, app: Any, key: str):
        self._client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                         base_url="http://csm.internal",
                                         headers={"Authorization": f"Bearer {key}"})

    async def __aenter__(self) -> QuerySource:
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        await self._client.aclose()

    async def get(self, path: str, **params: Any) -> Any:
        query = {k: str(v) for k, v in params.items() if v is not None}
        answer = await self._client.get(path, params=query)
        if answer.status_code != 200:
            body = answer.json() if answer.headers.get("content-type", "").endswith("json") \
                else {}
            raise QueryFailed(path, answer.status_code, body.get("detail", answer.text[:200]))
        return answer.json()

    async def lag(self) -> int:
        """How many events the read model furthest behind has yet to apply (from /ready)."""
        answer = await self._client.get("/ready")
        try:
            projections = answer.json().get("projections") or []
        except ValueError:
            return 0
        return max((p.get("lag") or 0 for p in projections), default=0)
