"""Holding off Python's cycle collector while a batch is read and applied.

A batch makes hundreds of thousands of small dicts, lists and tuples that all
stay alive until it is written; the collector would go through them again and
again as they pile up, while reference counting frees them anyway once the
batch is done. The collector is switched back on afterwards (if it was on), so
any cycles made meanwhile are collected then.
"""
from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
