"""Network views: what any node can see of the whole network, from the summaries it holds.

For convenors above all, but every group gets the same views (issue 6):
the **directory** (full-text search and filters over practices and
profiles), counts per **theme**, **level**, **principle** and **area**, a
**timeline** of new and retracted practices, the **spread** of a practice
(its lineage tree) and the **roots** of lineages, the **lineage** of a node
(who it learned from, who learned from it), the **health** of this
node's picture of the network, and the views that connect groups: the
practices of other groups most like one (**similar**), the **introductions**
a convenor can make (groups on one theme with nothing between them yet),
and where a group's ideas **travelled**.

Rules every view keeps:

* views read only signed summaries (``entries`` and tables derived from
  them), never the private practice records (DESIGN.md, privacy rule 1);
* no view ranks organisations against each other: counts and lineages,
  ordered by neutral keys (names, dates; roots by the reach of the *idea*);
* entries of forked authors and retracted practices are left out, and every
  output says so in ``excluded`` (:mod:`.common`);
* any view can be exported with its evidence, the signed entries behind its
  figures, and re-checked offline (:mod:`.evidence`).

Modules: :mod:`.index` (derived tables, kept in step lazily),
:mod:`.params` (parameters, parsed once for API, CLI and pages),
:mod:`.common`, :mod:`.directory`, :mod:`.counts`, :mod:`.spread`,
:mod:`.health`, :mod:`.similar`, :mod:`.introductions`, :mod:`.travelled`,
:mod:`.ties` (contacts, and what already connects groups), :mod:`.registry`
(the views by name), :mod:`.schemas` (the
JSON Schema of each view's output, for the OpenAPI file) and
:mod:`.evidence` (verifiable exports).

May import protocol/, node.store and the top-level node modules; never sync,
exports or web (tests/test_architecture.py checks it).
"""

from .evidence import (
    EVIDENCE_FORMAT,
    VerificationFailed,
    VerifyReport,
    build_store_from_evidence,
    verifiable_export,
    verify_export,
)
from .index import INDEX_FORMAT, area_grain, catch_up, is_stale, rebuild
from .params import FILTER_NAMES, PARAMS, Filters, Param, parse_params
from .registry import (
    VIEWS,
    ViewSpec,
    compute_view,
    prepare,
    prepare_for,
    refresh,
    run_view,
    table,
)

__all__ = [
    "EVIDENCE_FORMAT",
    "FILTER_NAMES",
    "INDEX_FORMAT",
    "PARAMS",
    "VIEWS",
    "Filters",
    "Param",
    "VerificationFailed",
    "VerifyReport",
    "ViewSpec",
    "area_grain",
    "build_store_from_evidence",
    "catch_up",
    "compute_view",
    "is_stale",
    "parse_params",
    "prepare",
    "prepare_for",
    "rebuild",
    "refresh",
    "run_view",
    "table",
    "verifiable_export",
    "verify_export",
]
