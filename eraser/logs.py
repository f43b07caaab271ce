"""Where eraser's messages go.

The library reports progress through ``logging`` (loggers under ``eraser``, level INFO) and never
prints. A front end attaches a handler for as long as it runs: the CLI sends the lines to stderr, the
notebook to the cell's output, a batch job to its log file. A program using eraser as a library sees
them once it configures logging (``logging.basicConfig(level=logging.INFO)``) or uses :func:`forwarded`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator

#: the logger every eraser module's logger sits under
LOGGER = "eraser"


class _Forward(logging.Handler):
    def __init__(self, sink: Callable[[str], None]) -> None:
        super().__init__()
        self.sink = sink
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink(self.format(record))
        except Exception:  # noqa: BLE001 - a broken sink must not break the erase
            self.handleError(record)


@contextlib.contextmanager
def forwarded(sink: Callable[[str], None], level: int = logging.INFO) -> Iterator[None]:
    """While active, every eraser message at ``level`` or above is passed to ``sink`` as one line of text."""
    logger = logging.getLogger(LOGGER)
    handler = _Forward(sink)
    handler.setLevel(level)
    previous = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > level:
        logger.setLevel(level)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
