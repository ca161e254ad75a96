"""A csm stack inside this process for one run: settings with known keys, a database of its
own on an embedded PostgreSQL, the API served on a free loopback port."""
from __future__ import annotations

import base64
import socket
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import uvicorn

from csm.api.app import create_app
from csm.infra.database import EmbeddedPostgres
from csm.infra.runtime import Runtime
from csm.infra.settings import Settings

ROLES = ("admin", "agent", "channel", "manager", "auditor")
API_KEYS = ",".join(f"key-{r}:{r}" for r in ROLES)
CIPHER_KEY = base64.b64encode(b"k" * 32).decode()
CHAIN_KEY = base64.b64encode(b"c" * 32).decode()
SIGNING_KEY = base64.b64encode(b"s" * 32).decode()
# What a csm process on an external database needs, besides DATABASE_URL.
KEYS_ENV = {"CSM_CIPHER_KEY": CIPHER_KEY, "CSM_CHAIN_KEY": CHAIN_KEY,
            "CSM_SIGNING_KEY": SIGNING_KEY}


def settings_for(url: str, data_dir: Path, **extra) -> Settings:
    return Settings(database_url=url, csm_data_dir=data_dir, csm_api_keys=API_KEYS,
                    csm_cipher_key=CIPHER_KEY, csm_chain_key=CHAIN_KEY,
                    csm_signing_key=SIGNING_KEY, **extra)


def new_database(server: EmbeddedPostgres) -> str:
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(server.server.get_uri(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.server.get_uri(database=name)


class LiveServer:
    """The API served by uvicorn on a free loopback port, in a thread."""

    def __init__(self, rt: Runtime):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        config = uvicorn.Config(create_app(rt), host="127.0.0.1", port=self.port,
                                log_config=None, log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.url = f"http://127.0.0.1:{self.port}"

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer key-{role}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
