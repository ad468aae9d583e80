"""Run the Alembic migrations from code (the `dialer migrate` command, tests, scripts).

The migrations live in ``migrations/`` next to ``alembic.ini`` at the repository root; they are
not part of the installed package, so this works from a source checkout (or an image built
from one).
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from dialer.store.engine import describe, unavailable_from

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def alembic_config(url: str, ini: Path = ALEMBIC_INI) -> Config:
    if not ini.is_file():
        raise FileNotFoundError(f"alembic.ini not found at {ini} (run from a source checkout)")
    cfg = Config(str(ini))
    cfg.attributes["url"] = url
    cfg.attributes["configure_logging"] = False  # the caller's logging setup stays in charge
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """`alembic upgrade <revision>` on `url`. Call it with no event loop running (Alembic's
    env.py runs its own). Raises `StoreUnavailable` if the database cannot be reached."""
    try:
        command.upgrade(alembic_config(url), revision)
    except Exception as exc:
        mapped = unavailable_from(exc, describe(url))
        if mapped is None:
            raise
        raise mapped from exc


def downgrade(url: str, revision: str) -> None:
    try:
        command.downgrade(alembic_config(url), revision)
    except Exception as exc:
        mapped = unavailable_from(exc, describe(url))
        if mapped is None:
            raise
        raise mapped from exc
