"""The schema's migrations, recorded as sqlite-utils records them, without loading it to read them.

A node checks at every start which migrations its database has had
(node/store/upgrade.py), and almost always there is none to apply. So
:class:`Migrations` keeps the list of migrations and reads the record of
those applied itself — sqlite-utils' table ``_sqlite_migrations``, one row
per migration applied (``migration_set``, ``name``, ``applied_at``), the
history of every database a node has made — and hands the applying to
sqlite-utils' own ``Migrations`` (each migration in its own transaction
with its record), imported only when there is something to apply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import sqlite_utils

__all__ = ["AppliedMigration", "Migration", "Migrations"]

MigrationFunction = Callable[["sqlite_utils.Database"], None]
F = TypeVar("F", bound=MigrationFunction)


@dataclass(frozen=True, slots=True)
class Migration:
    name: str
    fn: MigrationFunction
    transactional: bool = True


@dataclass(frozen=True, slots=True)
class AppliedMigration:
    name: str
    applied_at: str  # as sqlite-utils writes it, e.g. "2026-07-04 12:00:00.000000+00:00"


class Migrations:
    """A named, ordered set of migrations (the decorator registers one)."""

    migrations_table = "_sqlite_migrations"

    def __init__(self, name: str) -> None:
        self.name = name
        self._migrations: list[Migration] = []

    def __call__(self, *, name: str | None = None,
                 transactional: bool = True) -> Callable[[F], F]:
        def register(fn: F) -> F:
            migration_name = name or fn.__name__
            if any(m.name == migration_name for m in self._migrations):
                raise ValueError(f"migration {migration_name!r} is already registered in "
                                 f"{self.name!r}")
            self._migrations.append(Migration(migration_name, fn, transactional))
            return fn
        return register

    def applied(self, db: sqlite_utils.Database) -> list[AppliedMigration]:
        """The migrations of this set the database has had, in the order applied."""
        conn = db.conn
        if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        (self.migrations_table,)).fetchone() is None:
            return []
        return [AppliedMigration(str(name), str(applied_at)) for name, applied_at in
                conn.execute(f"SELECT name, applied_at FROM {self.migrations_table} "
                             "WHERE migration_set = ? ORDER BY rowid", (self.name,))]

    def pending(self, db: sqlite_utils.Database) -> list[Migration]:
        """The migrations still to apply, in order."""
        done = {m.name for m in self.applied(db)}
        return [m for m in self._migrations if m.name not in done]

    def apply(self, db: sqlite_utils.Database, *,
              stop_before: str | Iterable[str] | None = None) -> None:
        """Apply the pending migrations (sqlite-utils' Migrations.apply, same arguments)."""
        import sqlite_utils

        full = sqlite_utils.Migrations(self.name)
        for migration in self._migrations:
            full(name=migration.name, transactional=migration.transactional)(migration.fn)
        full.apply(db if isinstance(db, sqlite_utils.Database)
                   else sqlite_utils.Database(db.conn, recursive_triggers=False,
                                              execute_plugins=False),
                   stop_before=stop_before)
