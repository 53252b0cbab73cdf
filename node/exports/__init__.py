"""Exports of the network views, in the formats convenors and funders open.

``hedgerow export --format csv|xlsx|json|graphml|kumu|openreferral [--view …]``:

* ``csv``, ``xlsx``, ``json`` — any view (:mod:`.tabular`); ``json`` with
  ``evidence=True`` is a *verifiable* export (:mod:`node.views.evidence`);
* ``graphml``, ``kumu`` — the attribution graph (:mod:`.graph`), of the
  whole network or, with ``--view spread`` and a practice, of one lineage;
  with ``--view introductions``, the whole graph with the suggested
  introductions beside the credits and adaptations, drawn differently;
* ``openreferral`` — the directory as Open Referral UK JSON
  (:mod:`.openreferral`).

An export lists everything: without an explicit ``limit``, the directory,
the roots of lineages and the themes of the introductions are exported
whole, not one page (introductions with the most suggestions per theme).
:func:`export_bytes` is the synchronous function (over an up-to-date
index); :func:`export_view` is what the CLI and the API call.

May import protocol/, node.store, node.views and the top-level node modules;
never sync or web (tests/test_architecture.py checks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ..errors import InvalidInput
from ..views import compute_view, prepare_for, refresh, verifiable_export
from ..views.introductions import MAX_PER_THEME
from ..views.params import Filters
from .graph import (
    Graph,
    attribution_graph,
    introductions_graph,
    members_graph,
    to_graphml,
    to_kumu,
)
from .openreferral import openreferral_uk
from .tabular import to_csv, to_json, to_xlsx

if TYPE_CHECKING:
    import sqlite_utils

    from ..store.store import Store

__all__ = [
    "FORMATS",
    "Graph",
    "attribution_graph",
    "export_bytes",
    "export_view",
    "introductions_graph",
    "members_graph",
    "openreferral_uk",
    "to_csv",
    "to_graphml",
    "to_json",
    "to_kumu",
    "to_xlsx",
]

FORMATS: Final = ("csv", "xlsx", "json", "graphml", "kumu", "openreferral")
#: Limit used when an export asks for everything.
_ALL: Final = 10**9


def _check(fmt: str, view: str | None, evidence: bool) -> str:
    if fmt not in FORMATS:
        raise InvalidInput(f"format: must be one of {', '.join(FORMATS)}", field="format")
    if evidence and fmt != "json":
        raise InvalidInput("evidence: only a json export can carry its evidence",
                           field="evidence")
    if fmt in ("graphml", "kumu"):
        if view not in (None, "spread", "introductions", "members"):
            raise InvalidInput(f"view: {fmt} exports the attribution graph (--view spread with "
                               "a practice, or no view), with the suggested introductions "
                               "beside it (--view introductions), or who admitted whom "
                               "(--view members)", field="view")
        return view or "spread"
    if fmt == "openreferral":
        if view not in (None, "directory"):
            raise InvalidInput("view: openreferral exports the directory", field="view")
        return "directory"
    return view or "directory"


def export_bytes(db: sqlite_utils.Database, fmt: str, view: str,
                 params: dict[str, Any], *, evidence: bool = False) -> bytes:
    """The export of a prepared view (see :func:`node.views.prepare`)."""
    if fmt in ("graphml", "kumu"):
        if view == "introductions":
            graph = introductions_graph(db, compute_view(db, view, params))
        elif view == "members":
            graph = members_graph(db)
        else:
            practice = (params["node"], params["key"]) if "node" in params else None
            graph = attribution_graph(db, practice)
        return to_graphml(graph) if fmt == "graphml" else to_kumu(graph)
    if fmt == "openreferral":
        return to_json(openreferral_uk(db, q=params.get("q"),
                                       filters=Filters.of(params))).encode()
    if evidence:
        return to_json(verifiable_export(db, view, params)).encode()
    result = compute_view(db, view, params)
    if fmt == "csv":
        return to_csv(result).encode()
    if fmt == "xlsx":
        return to_xlsx(result)
    return to_json(result).encode()


async def export_view(store: Store, fmt: str, view: str | None,
                      raw: Mapping[str, str | int | None], *,
                      evidence: bool = False) -> bytes:
    """Parse, refresh the index and export (for the CLI and the API)."""
    name = _check(fmt, view, evidence)
    params = await prepare_for(store, name, raw)
    # A verifiable export keeps the view's own paging: its params must parse again.
    if name in ("directory", "spread", "introductions") and raw.get("limit") in (None, "") \
            and not evidence:
        params["limit"] = _ALL
        if name == "introductions" and raw.get("per_theme") in (None, ""):
            params["per_theme"] = MAX_PER_THEME
    await refresh(store)
    return await store.db.read(export_bytes, fmt, name, params, evidence=evidence)
