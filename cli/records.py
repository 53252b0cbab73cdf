"""``hedgerow record``: the group's private practice records.

``record add`` and ``record edit`` take a flag per field, or, with no field
flags, open ``$EDITOR`` on a TOML template of the record. A template that is
not valid TOML, or a record the node refuses, saves nothing and says why.
Records never leave the node; what a summary shares is decided separately
(``hedgerow share``).
"""

from __future__ import annotations

import datetime
import os
import sys
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import click

from node import Observation, Practice, PracticeRecord, Store
from node.home import toml_value
from protocol import LEVELS, PRACTICE_STATUSES, id_to_text, slot_of

from .common import (
    HelpGroup,
    UserError,
    WholeNumber,
    data_dir_option,
    json_option,
    open_store,
    run,
)
from .output import echo_json, print_table

__all__ = ["record"]

_FIELD_ORDER = ("key", "title", "status", "description", "themes", "level", "area", "since",
                "context", "community", "run_by", "notes")


@click.group(cls=HelpGroup)
def record() -> None:
    """Private practice records: what your group does. They never leave this node."""


def _field_options(*, with_key: bool) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """The flags for a practice's fields (and lessons and sources)."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        options = [
            click.option("--title", help="What the practice is called."),
            click.option("--status", type=click.Choice(PRACTICE_STATUSES),
                         help="Whether it runs now."),
            click.option("--description", help="What the group does, in a few sentences."),
            click.option("--themes", metavar="LIST",
                         help="Comma-separated themes, e.g. 'repair, reuse'."),
            click.option("--level", type=click.Choice(LEVELS), help="The level it works at."),
            click.option("--area", help="Where, e.g. a postcode district (LS6)."),
            click.option("--since", help="When it started: YYYY, YYYY-MM or YYYY-MM-DD."),
            click.option("--context", help="Private: the context the group knows."),
            click.option("--community", help="Private: the community it serves."),
            click.option("--run-by", help="Private: who runs it."),
            click.option("--notes", help="Private: anything else."),
            click.option("--lesson", "lessons", multiple=True,
                         help="Add a lesson learnt (repeat for several)."),
            click.option("--adapted-from", "sources", multiple=True, metavar="NODE/KEY",
                         help="Add a practice it was adapted from: the node id (or its short "
                              "form), a slash, and that node's practice key (repeat for "
                              "several)."),
        ]
        if with_key:
            options.insert(0, click.option(
                "--key", help="A short fixed name for the practice (lower-case letters, digits "
                              "and dashes) [default: made from the title]."))
        for option in reversed(options):
            command = option(command)
        return command

    return decorate


def _given_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    fields = {name: value for name, value in values.items()
              if name in _FIELD_ORDER and value is not None}
    if "themes" in fields:
        fields["themes"] = [t.strip() for t in fields["themes"].split(",") if t.strip()]
    return fields


def _parse_sources(sources: tuple[str, ...]) -> list[tuple[str, str]]:
    """``--adapted-from`` values as (node id or its start, practice key)."""
    parsed = []
    for text in sources:
        node, slash, key = text.strip().partition("/")
        if not slash or not key or not node.strip():
            raise UserError("--adapted-from takes NODE/KEY: the node id (or its short form), "
                            "a slash and the practice key, e.g. 54TXMKB/repair-cafe")
        parsed.append((node.strip(), key.strip()))
    return parsed


# --- the editor template ---------------------------------------------------------------

_HELP_COMMENTS = {
    "key": "a short fixed name (lower-case, digits, dashes); empty: made from the title",
    "status": "one of: " + ", ".join(PRACTICE_STATUSES),
    "themes": 'lower-case words, e.g. ["repair", "reuse"]',
    "level": "one of: " + ", ".join(LEVELS) + " (or empty)",
    "area": "e.g. a postcode district: LS6",
    "since": "YYYY, YYYY-MM or YYYY-MM-DD (or empty)",
}


def _template(values: Mapping[str, Any], *, new: bool) -> str:
    lines = [
        "# A practice record, in TOML. Lines starting with # are comments.",
        "# Save and close the editor to keep it; a mistake saves nothing.",
        "# Fields below 'private' never leave this node. The others are shared only",
        "# when you choose to (`hedgerow share preview KEY`).",
        "",
    ]
    for name in _FIELD_ORDER:
        if name == "key" and not new:
            continue
        if name == "context":
            lines += ["", "# --- private: never shared ---"]
        value = values.get(name)
        value = "" if value is None else value
        if name == "description":
            value = value if "\n" in value else (value + "\n" if value else "\n")
        comment = f"  # {_HELP_COMMENTS[name]}" if name in _HELP_COMMENTS and \
            not (isinstance(value, str) and "\n" in value) else ""
        lines.append(f"{name} = {toml_value(value)}{comment}")
    if new:
        lines += ["", "# Lessons learnt, one string each.", "lessons = []"]
    return "\n".join(lines) + "\n"


def _from_editor(values: Mapping[str, Any], *, new: bool) -> dict[str, Any] | None:
    chosen = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if not chosen and not (sys.stdin.isatty() and sys.stdout.isatty()):
        # The fallback editors (sensible-editor, vim, nano) started without a
        # terminal wait for keys that never come. An editor the person chose
        # in $VISUAL or $EDITOR may be a script or a window of its own (as
        # git does, it is trusted).
        command = "add" if new else "edit"
        example = "--title TITLE --themes LIST" if new else "--status ended"
        raise UserError(f"`record {command}` without field flags opens an editor, which needs "
                        f"a terminal (or $EDITOR); give the fields as flags instead, e.g. "
                        f"{example} (see `hedgerow record {command} --help`)")
    text = click.edit(_template(values, new=new), extension=".toml", require_save=True)
    if text is None:
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"the record is not valid TOML ({exc}); nothing was saved") from None
    if "description" in data and isinstance(data["description"], str):
        data["description"] = data["description"].strip("\n")
    return data


def _practice_values(practice: Practice) -> dict[str, Any]:
    return {name: (list(getattr(practice, name)) if name == "themes" else
                   getattr(practice, name)) for name in _FIELD_ORDER}


def _changes(current: Mapping[str, Any], edited: Mapping[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name, value in edited.items():
        before = current.get(name)
        if name in ("level", "since") and value == "":
            value = None
        if value != before and not (before is None and value == ""):
            changes[name] = value
    return changes


# --- commands --------------------------------------------------------------------------

async def _resolve_sources(store: Store,
                           sources: list[tuple[str, str]]) -> list[tuple[bytes, str]]:
    return [(await store.resolve_node(node, field="--adapted-from"), key)
            for node, key in sources]


async def _add_children(store: Store, key: str, lessons: list[str],
                        sources: list[tuple[bytes, str]]) -> None:
    for text in lessons:
        await store.add_lesson(key, text)
    for author, practice_key in sources:
        await store.add_adaptation(key, author, practice_key)


@record.command("add")
@data_dir_option
@_field_options(with_key=True)
def record_add(data_dir: Path, lessons: tuple[str, ...], sources: tuple[str, ...],
               **values: Any) -> None:
    """Record a new practice (with no field flags, in $EDITOR)."""
    fields = _given_fields(values)
    adapted = _parse_sources(sources)
    lesson_list = list(lessons)
    if not fields:
        edited = _from_editor({"status": "active"}, new=True)
        if edited is None:
            raise UserError("the editor was closed without saving; no record was added")
        extra = edited.pop("lessons", [])
        if not isinstance(extra, list):
            raise UserError("lessons: must be a list of text; nothing was saved")
        lesson_list += extra
        fields = {k: v for k, v in edited.items() if v not in ("", None)}

    async def add() -> Practice:
        async with open_store(data_dir) as store:
            sources = await _resolve_sources(store, adapted)
            practice = await store.create_practice(fields)
            try:
                await _add_children(store, practice.key, lesson_list, sources)
            except BaseException:
                await store.delete_practice(practice.key)
                raise
            return practice

    practice = run(add())
    click.echo(f"added {practice.key}: {practice.title}")


@record.command("edit")
@data_dir_option
@click.argument("practice")
@_field_options(with_key=False)
def record_edit(data_dir: Path, practice: str, lessons: tuple[str, ...],
                sources: tuple[str, ...], **values: Any) -> None:
    """Change a practice (with no flags, in $EDITOR). --lesson and --adapted-from add."""
    fields = _given_fields(values)
    adapted = _parse_sources(sources)

    async def edit() -> bool:
        async with open_store(data_dir) as store:
            sources = await _resolve_sources(store, adapted)
            current = _practice_values((await store.get_practice(practice)).practice)
            changes = fields
            if not fields and not lessons and not adapted:
                edited = _from_editor(current, new=False)
                if edited is None:
                    return False
                changes = _changes(current, edited)
            if changes:
                await store.update_practice(practice, changes)
            await _add_children(store, practice, list(lessons), sources)
            return bool(changes or lessons or adapted)

    if run(edit()):
        click.echo(f"saved {practice}")
    else:
        click.echo(f"nothing changed in {practice}")


@record.command("list")
@data_dir_option
@json_option
def record_list(data_dir: Path, as_json: bool) -> None:
    """List the practices this node keeps, and whether each is published."""

    async def read() -> tuple[list[Practice], dict[str, str]]:
        async with open_store(data_dir) as store:
            practices = await store.list_practices()
            published: dict[str, str] = {}
            for kind in ("practice", "retract"):
                for held in await store.current_entries(kind=kind, author=store.node_id,
                                                        limit=10_000):
                    slot = slot_of(held.entry.author, kind, held.entry.key)
                    if slot.family == "practice":
                        published[slot.key] = "published" if kind == "practice" \
                            else "retracted"
            return practices, published

    practices, published = run(read())
    if as_json:
        echo_json([{**_practice_values(p), "summary": published.get(p.key, "private")}
                   for p in practices])
        return
    if not practices:
        click.echo("no practices yet; add one with `hedgerow record add`")
        return
    print_table(("key", "title", "status", "themes", "summary"),
                [(p.key, p.title, p.status, ", ".join(p.themes),
                  published.get(p.key, "private")) for p in practices])


#: Figures of a measure shown by `record show` (the latest; --json has them all).
_FIGURES_SHOWN = 10


def _record_json(record_: PracticeRecord,
                 figures: Mapping[int, list[Observation]]) -> dict[str, Any]:
    return {
        **_practice_values(record_.practice),
        "lessons": [{"number": n, "id": lesson.id, "text": lesson.text}
                    for n, lesson in enumerate(record_.lessons, start=1)],
        "measures": [{"id": m.id, "name": m.name, "unit": m.unit, "defined_by": m.defined_by,
                      "why": m.why,
                      "observations": [{"id": o.id, "observed_on": o.observed_on,
                                        "value": o.value, "note": o.note}
                                       for o in figures.get(m.id, [])]}
                     for m in record_.measures],
        "voices": [{"id": v.id, "speaker": v.speaker, "quote": v.quote,
                    "recorded_on": v.recorded_on} for v in record_.voices],
        "adapted_from": [{"id": a.id, "author": id_to_text(a.author), "key": a.practice_key,
                          "note": a.note} for a in record_.adaptations],
    }


@record.command("show")
@data_dir_option
@click.argument("practice")
@json_option
def record_show(data_dir: Path, practice: str, as_json: bool) -> None:
    """Show everything kept about a practice, private fields included."""

    async def read() -> tuple[PracticeRecord, dict[int, list[Observation]]]:
        async with open_store(data_dir) as store:
            found = await store.get_practice(practice)
            figures = {m.id: await store.list_observations(m.id, limit=10_000)
                       for m in found.measures}
            return found, figures

    data = _record_json(*run(read()))
    if as_json:
        echo_json(data)
        return
    for name in _FIELD_ORDER:
        if name == "context":
            click.echo("-- private --")
        value = data[name]
        text = ", ".join(value) if isinstance(value, list) else ("" if value is None else value)
        click.echo(f"{name + ':':13} {text}")
    if data["lessons"]:
        click.echo("lessons (numbers for `share --lessons`):")
        for lesson in data["lessons"]:
            click.echo(f"  {lesson['number']}. {lesson['text']}")
    if data["measures"]:
        click.echo("measures (for `share --measure` and `record observe`):")
        for m in data["measures"]:
            unit = f" ({m['unit']})" if m["unit"] else ""
            click.echo(f"  #{m['id']} {m['name']}{unit}, defined by {m['defined_by']}")
            figures = m["observations"]
            for o in figures[-_FIGURES_SHOWN:]:
                note = f"  {o['note']}" if o["note"] else ""
                click.echo(f"      {o['observed_on']}  {o['value']:>8}{note}")
            if not figures:
                click.echo(f"      no figures yet: `hedgerow record observe {m['id']} VALUE`")
            elif len(figures) > _FIGURES_SHOWN:
                click.echo(f"      ({len(figures)} figures: the latest {_FIGURES_SHOWN} "
                           "shown; --json lists them all)")
    if data["voices"]:
        click.echo(f"voices: {len(data['voices'])} (private)")
    for source in data["adapted_from"]:
        click.echo(f"adapted from: {source['author']}/{source['key']}")


@record.command("delete")
@data_dir_option
@click.argument("practice")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def record_delete(data_dir: Path, practice: str, yes: bool) -> None:
    """Delete a practice record and everything kept about it.

    A summary already published stays on the network: retract it first with
    `hedgerow retract PRACTICE`.
    """
    if not yes:
        click.confirm(f"Delete the record {practice} and everything kept about it?",
                      abort=True)

    async def delete() -> bool:
        async with open_store(data_dir) as store:
            await store.get_practice(practice)  # NotFound before anything else
            held = await store.current_entry(store.node_id, "practice", practice)
            await store.delete_practice(practice)
            return held is not None and held.entry.kind == "practice"

    still_published = run(delete())
    click.echo(f"deleted {practice}")
    if still_published:
        click.echo(f"note: its published summary is still on the network; withdraw it with "
                   f"`hedgerow retract {practice}`")


@record.command("measure")
@data_dir_option
@click.argument("practice")
@click.argument("name")
@click.option("--unit", default="", help="What is counted, e.g. people or kg.")
@click.option("--defined-by", type=click.Choice(("community", "funder", "own")), default="own",
              show_default=True, help="Who decided this counts.")
@click.option("--why", default="", help="Private: why it is measured.")
def record_measure(data_dir: Path, practice: str, name: str, unit: str, defined_by: str,
                   why: str) -> None:
    """Add a measure to a practice: something the group counts."""

    async def add() -> int:
        async with open_store(data_dir) as store:
            measure = await store.add_measure(practice, {"name": name, "unit": unit,
                                                         "defined_by": defined_by, "why": why})
            return measure.id

    measure_id = run(add())
    click.echo(f"added measure #{measure_id} {name} to {practice}; record figures with "
               f"`hedgerow record observe {measure_id} VALUE`")


@record.command("observe")
@data_dir_option
@click.argument("measure", type=WholeNumber(minimum=1))
@click.argument("value", type=WholeNumber(minimum=0))
@click.option("--on", "observed_on", metavar="YYYY-MM-DD", default=None,
              help="The date of the figure [default: today].")
@click.option("--note", default="", help="Private: a note about this figure.")
def record_observe(data_dir: Path, measure: int, value: int, observed_on: str | None,
                   note: str) -> None:
    """Record a figure for a measure (exact figures never leave the node)."""
    on = observed_on or datetime.date.today().isoformat()

    async def add() -> None:
        async with open_store(data_dir) as store:
            await store.record_observation(measure, {"observed_on": on, "value": value,
                                                     "note": note})

    run(add())
    click.echo(f"recorded {value} for measure #{measure} on {on}")
