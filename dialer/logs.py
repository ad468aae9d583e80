"""Logging set-up: text or JSON lines, campaign and call ids from `extra`, phone numbers masked.

Masking is done by a filter on the handler, so it also covers messages from libraries
(panoramisk logs whole AMI messages at debug level, numbers included). A number keeps its
country prefix and last two digits: +44******23. Tracebacks are masked the same way (an
exception's message may quote a number or a secret).

One record is one line: CR and LF in a message or an extra (a name someone typed, an AMI
value) are written as \\r and \\n, so nobody can forge log lines through a field.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

# A number may come written with its + percent-encoded (%2B, in a URL's query).
_PHONE = re.compile(r"(?<![\w.-])(?:\+|%2[Bb])?\d[\d ()-]{6,}\d(?![\w.-])")
_SECRET = re.compile(r"(?i)\b(secret|password|token)([\"']?\s*[:=]\s*[\"']?)([^\s\"',]+)")
_PLUS = re.compile("%2[Bb]")
_EXTRA_KEYS = ("campaign", "call", "lead", "agent", "trunk", "channel", "result")


def mask_phone(number: str) -> str:
    digits = [c for c in number if c.isdigit()]
    if len(digits) <= 4:
        return "*" * len(digits)
    keep_head = 2 if number.startswith("+") else 1
    head = "".join(digits[:keep_head])
    return (
        ("+" if number.startswith("+") else "")
        + head
        + "*" * (len(digits) - keep_head - 2)
        + "".join(digits[-2:])
    )


# SQLAlchemy's error text lists the statement's bound values (names, notes, numbers): never
# logged. Up to the "(Background on this error ...)" line it adds, or the end.
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\s*(?:\(Background|$))", re.S)


def mask_text(text: str) -> str:
    text = _SQL_PARAMETERS.sub("[parameters hidden]", text)
    text = _PHONE.sub(lambda m: mask_phone(_PLUS.sub("+", m.group(0))), text)
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)


def one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


class MaskingFilter(logging.Filter):
    """Masks phone numbers and secrets in the rendered message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = one_line(mask_text(message))
        if masked != message or record.args:
            record.msg = masked
            record.args = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in _EXTRA_KEYS:
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)

    def formatException(self, ei: Any) -> str:
        return mask_text(super().formatException(ei))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [
            f"{k}={one_line(mask_text(str(getattr(record, k))))}"
            for k in _EXTRA_KEYS
            if hasattr(record, k)
        ]
        return f"{line} [{' '.join(extras)}]" if extras else line

    def formatException(self, ei: Any) -> str:
        return mask_text(super().formatException(ei))


def setup(level: str = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # panoramisk logs every AMI message at DEBUG; keep it quiet unless asked.
    logging.getLogger("panoramisk").setLevel(max(logging.INFO, root.level))
