"""Waking tailing readers when events are recorded: the store's NOTIFY on `csm_events`."""
from __future__ import annotations

import threading

import psycopg

from csm.projections.pg_names import EVENTS


def listen_for_events(url: str, stop: threading.Event, wake: threading.Event) -> None:
    """Sets `wake` on every NOTIFY until `stop`; reconnects when the connection drops."""
    while not stop.is_set():
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=3) as conn:
                conn.execute(f"LISTEN {EVENTS}")
                while not stop.is_set():
                    for _ in conn.notifies(timeout=0.5, stop_after=1):
                        wake.set()
        except psycopg.Error:
            stop.wait(1)
