"""Structured logs: one JSON object per line, with the order id, workflow id and step on every line that concerns an
order (from the context Temporal's replay-safe `workflow.logger` and `activity.logger` attach to their records)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

from cadenza.private_files import open_private_append, private_dir
from cadenza.settings import settings

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "temporal_workflow", "temporal_activity"}


class JsonFormatter(logging.Formatter):
    """`order_id_prefix`: the prefix of the workflow ids that name an order (the caller knows it; the kernel knows no
    workflow), so that lines about an order carry its id."""

    converter = staticmethod(time.gmtime)  # timestamps in UTC, whatever the host's zone

    def __init__(self, order_id_prefix: str | None = None) -> None:
        super().__init__()
        self._order_id_prefix = order_id_prefix

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = getattr(record, "temporal_activity", None) or getattr(record, "temporal_workflow", None) or {}
        if workflow_id := context.get("workflow_id"):
            line["workflow_id"] = workflow_id
            prefix = self._order_id_prefix
            if prefix and workflow_id.startswith(prefix):
                line["order_id"] = workflow_id.removeprefix(prefix)
        if "activity_type" in context:
            line["step"] = context["activity_type"]
            line["attempt"] = context.get("attempt")
        # Anything passed with `extra=` (e.g. the workflow's current step) rides along.
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: int = logging.INFO, *, order_id_prefix: str | None = None) -> None:
    """JSON lines by default; `CADENZA_LOG_FORMAT=text` for plain human-readable lines. `order_id_prefix`: see
    `JsonFormatter`."""
    handler = logging.StreamHandler()
    if settings().log_format == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonFormatter(order_id_prefix))
        # The context goes into fields; appending it to every message as well would only repeat it.
        workflow.logger.workflow_info_on_message = False
        activity.logger.activity_info_on_message = False
    logging.basicConfig(level=level, handlers=[handler], force=True)


@contextlib.contextmanager
def logging_to_file(path: Path, *, order_id_prefix: str | None = None) -> Iterator[Path]:
    """For the block, every log record of this process (the SDK's "Completing activity as failed" with its traceback,
    a worker's lines, the Temporal Core's lines when forwarded: `cadenza.telemetry.core_logs_forwarded`) goes to `path`
    as JSON lines, at INFO and above, and none to the console: a command that runs a worker inside itself keeps its
    output for the person reading it, its logs for the file. Written 0600 (the lines name orders)."""
    private_dir(path.parent)
    stream = os.fdopen(open_private_append(path), "a", encoding="utf-8")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(order_id_prefix))
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers, root.level = [handler], logging.INFO
    try:
        yield path
    finally:
        root.handlers, root.level = saved_handlers, saved_level
        handler.close()
        stream.close()
