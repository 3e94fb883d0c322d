"""The garbage collector, tuned for processes that serve for days."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Keep what start-up made out of every later collection; called by the servers
    just before they serve.

    Modules, classes, routes, schemas and constant tables are hundreds of thousands of
    objects that live as long as the process, and each full collection walked all of
    them: 75-180 ms with the event loop stopped, repeatedly, which was the tail of
    every latency `messenger bench` measured.
    """
    gc.collect()
    gc.freeze()
