"""What the group shares: ``share policy|preview|publish``, ``retract`` and ``credit``.

A practice shares only its title and status until the group chooses more.
The policy options (``--fields``, ``--lessons``, ``--measure``) change the
practice's saved share policy; ``share preview`` then prints exactly the
entry that ``share publish`` signs (DESIGN.md, privacy rule 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from node import (
    AGGREGATES,
    ALWAYS_SHARED,
    PRIVATE_PRACTICE_FIELDS,
    SHAREABLE_FIELDS,
    LocalProblem,
    PracticeRecord,
    SharedMeasure,
    SharePolicy,
    Store,
)
from node.home import running_pid
from node.store.feed import UNSEEN_PRACTICE
from protocol import decode, short_id

from .common import HelpGroup, UserError, data_dir_option, json_option, open_store, run
from .output import console, echo_json, entry_json, escape, is_terminal

__all__ = ["credit", "retract", "share"]

_CHOOSABLE = tuple(f for f in SHAREABLE_FIELDS if f not in ALWAYS_SHARED)


def _policy_options(command: Any) -> Any:
    options = [
        click.option("--fields", metavar="LIST",
                     help="Summary fields to share, comma-separated, or 'all' or 'none' "
                          f"(title and status always are): {', '.join(_CHOOSABLE)}."),
        click.option("--lessons", metavar="LIST",
                     help="Which lessons to share: their numbers in `hedgerow record show` "
                          "(1,3), 'all' or 'none'."),
        click.option("--measure", "measures", multiple=True, metavar="SPEC",
                     help="Share a measure as NAME-or-ID[:sum|latest[:all|YYYY|YYYY-MM]], "
                          "e.g. visitors:sum:2025 (repeat; 'none' shares no measures)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _parse_fields(text: str) -> set[str]:
    words = {w.strip() for w in text.split(",") if w.strip()}
    if words == {"all"}:
        return set(SHAREABLE_FIELDS)
    if words == {"none"}:
        return set()
    private = sorted(words & {*PRIVATE_PRACTICE_FIELDS, "voices", "observations"})
    if private:
        raise UserError(f"{', '.join(private)} {'is' if len(private) == 1 else 'are'} private "
                        "and can never be shared")
    unknown = sorted(words - set(SHAREABLE_FIELDS))
    if unknown:
        raise UserError(f"--fields: {', '.join(unknown)} is not a summary field; choose from "
                        f"{', '.join(_CHOOSABLE)}")
    return words


def _parse_lessons(text: str, record: PracticeRecord) -> set[int]:
    ids = [lesson.id for lesson in record.lessons]
    word = text.strip().lower()
    if word == "all":
        return set(ids)
    if word == "none":
        return set()
    chosen = set()
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 1 <= int(part) <= len(ids):
            raise UserError(f"--lessons: {part!r} is not a lesson number of this practice "
                            f"(it has {len(ids)}; see `hedgerow record show "
                            f"{record.practice.key}`)")
        chosen.add(ids[int(part) - 1])
    return chosen


def _parse_measure(spec: str, record: PracticeRecord) -> SharedMeasure:
    name, _, rest = spec.partition(":")
    aggregate, _, period = rest.partition(":")
    found = [m for m in record.measures if m.name == name.strip()
             or (name.strip().lstrip("#").isdigit() and m.id == int(name.strip().lstrip("#")))]
    if not found:
        raise UserError(f"--measure: this practice has no measure {name.strip()!r} (see "
                        f"`hedgerow record show {record.practice.key}`)")
    aggregate = aggregate.strip() or "sum"
    if aggregate not in AGGREGATES:
        raise UserError(f"--measure: how to summarise is one of {', '.join(AGGREGATES)}, "
                        f"not {aggregate!r}")
    return SharedMeasure(found[0].id, aggregate, period.strip() or "all")


async def _apply_policy(store: Store, practice: str, fields: str | None, lessons: str | None,
                        measures: tuple[str, ...]) -> SharePolicy:
    """Save the policy the options describe (if any) and return the practice's policy."""
    current = await store.get_share_policy(practice)
    if fields is None and lessons is None and not measures:
        return current
    record = await store.get_practice(practice)
    chosen = set(current.fields) if fields is None else _parse_fields(fields) | ALWAYS_SHARED
    lesson_ids = set(current.lessons) if lessons is None else _parse_lessons(lessons, record)
    shared = list(current.measures)
    if measures:
        shared = [] if [m.strip().lower() for m in measures] == ["none"] else \
            [_parse_measure(spec, record) for spec in measures]
    if lessons is not None:
        chosen = chosen | {"lessons"} if lesson_ids else chosen - {"lessons"}
    if measures:
        chosen = chosen | {"measures"} if shared else chosen - {"measures"}
    return await store.set_share_policy(practice, SharePolicy.of(
        chosen, lessons=lesson_ids, measures=shared))


def _policy_json(policy: SharePolicy, record: PracticeRecord) -> dict[str, Any]:
    numbers = {lesson.id: n for n, lesson in enumerate(record.lessons, start=1)}
    names = {m.id: m.name for m in record.measures}
    return {
        "fields": sorted(policy.fields),
        "not_shared": [f for f in SHAREABLE_FIELDS if f not in policy.fields],
        "lessons": sorted(numbers[i] for i in policy.lessons if i in numbers),
        "measures": [{"measure": names.get(m.measure_id, str(m.measure_id)), "id": m.measure_id,
                      "aggregate": m.aggregate, "period": m.period} for m in policy.measures],
        "never_shared": [*PRIVATE_PRACTICE_FIELDS, "voices", "exact observations"],
    }


@click.group(cls=HelpGroup, short_help="Choose what a summary shares; preview; publish.")
def share() -> None:
    """Choose what a practice's summary shares, look at exactly that, and publish it."""


@share.command("policy")
@data_dir_option
@click.argument("practice")
@_policy_options
@json_option
def share_policy(data_dir: Path, practice: str, fields: str | None, lessons: str | None,
                 measures: tuple[str, ...], as_json: bool) -> None:
    """Show (or, with options, change) what a practice's summary shares."""

    async def policy() -> dict[str, Any]:
        async with open_store(data_dir) as store:
            saved = await _apply_policy(store, practice, fields, lessons, measures)
            return _policy_json(saved, await store.get_practice(practice))

    data = run(policy())
    if as_json:
        echo_json(data)
        return
    click.echo(f"shared:       {', '.join(data['fields'])}")
    if data["lessons"]:
        click.echo(f"lessons:      {', '.join(map(str, data['lessons']))}")
    for m in data["measures"]:
        click.echo(f"measure:      {m['measure']} ({m['aggregate']}, {m['period']})")
    click.echo(f"not shared:   {', '.join(data['not_shared']) or '-'}")
    click.echo(f"never shared: {', '.join(data['never_shared'])}")


@share.command("preview")
@data_dir_option
@click.argument("practice")
@_policy_options
def share_preview(data_dir: Path, practice: str, fields: str | None, lessons: str | None,
                  measures: tuple[str, ...]) -> None:
    """Print exactly the entry `share publish` would sign (policy options are saved first)."""

    async def preview() -> tuple[dict[str, Any], str | None]:
        async with open_store(data_dir) as store:
            await _apply_policy(store, practice, fields, lessons, measures)
            entry = entry_json(await store.preview_practice(practice))
            return entry, (await store.get_organisation()).contact

    data, contact = run(preview())
    if is_terminal():
        out = console()
        out.print(f"[bold]This is exactly what `hedgerow share publish {practice}` would "
                  "sign[/bold] (the version is the time of signing):")
        out.print_json(data=data)
        if contact:
            # The contact is the profile's, signed with it: say where it shows, and how to check.
            out.print(f"Beside it, other groups see “get in touch”: {escape(contact)} (from "
                      "your profile; `hedgerow profile preview` shows what the profile signs).")
    else:
        echo_json(data)


def _spread_hint(data_dir: Path) -> str:
    if running_pid(data_dir) is not None:
        return "the running node will tell its peers within seconds"
    return "peers get it when the node next syncs (`hedgerow up`, or `hedgerow sync` now)"


@share.command("publish")
@data_dir_option
@click.argument("practice")
@_policy_options
@json_option
def share_publish(data_dir: Path, practice: str, fields: str | None, lessons: str | None,
                  measures: tuple[str, ...], as_json: bool) -> None:
    """Sign and publish a practice's summary (policy options are saved first)."""

    async def publish() -> dict[str, Any]:
        async with open_store(data_dir) as store:
            await _apply_policy(store, practice, fields, lessons, measures)
            signed = await store.publish_practice(practice)
            held = await store.current_entry(store.node_id, "practice", practice)
            assert held is not None
            return {"entry_id": signed.id.hex(), **entry_json(held.entry)}

    data = run(publish())
    if as_json:
        echo_json(data)
        return
    click.echo(f"published {practice} (version {data['version']}); {_spread_hint(data_dir)}")


@click.command(short_help="Withdraw a published practice.")
@data_dir_option
@click.argument("practice")
@click.option("--reason", default="", help="Why it is withdrawn (published with the retraction).")
def retract(data_dir: Path, practice: str, reason: str) -> None:
    """Withdraw a published practice: a signed retraction replaces its summary."""

    async def withdraw() -> int:
        async with open_store(data_dir) as store:
            await store.retract_practice(practice, reason=reason)
            held = await store.current_entry(store.node_id, "retract", practice)
            return held.entry.version if held is not None else 0

    version = run(withdraw())
    click.echo(f"retracted {practice} (version {version}); {_spread_hint(data_dir)}")


class _CreditGroup(HelpGroup):
    """``credit NODE PRACTICE`` gives a credit (``credit give``); ``credit withdraw`` takes
    one back. Anything but a subcommand's name (or help) is read as ``give``'s."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["give", *args]
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        formatter.write_usage(ctx.command_path, "NODE PRACTICE [OPTIONS]")
        formatter.write_usage(ctx.command_path, "withdraw NODE PRACTICE [OPTIONS]",
                              prefix="   or: ")


@click.group(cls=_CreditGroup, short_help="Thank a node for a practice (signed), or withdraw it.")
def credit() -> None:
    """Thank a node for one of its practices: a signed credit that travels with the network.

    `hedgerow credit NODE PRACTICE` is `hedgerow credit give NODE PRACTICE`.
    A credit given by mistake is taken back with `hedgerow credit withdraw`:
    a signed withdrawal that spreads like the credit did.
    """


@credit.command("give")
@data_dir_option
@click.argument("node")
@click.argument("practice")
@click.option("--note", default="", help="A thank-you, published with the credit.")
@click.option("--anyway", is_flag=True,
              help="Credit a practice this node has not seen from NODE (yet).")
def credit_give(data_dir: Path, node: str, practice: str, note: str, anyway: bool) -> None:
    """Thank NODE for its PRACTICE: a signed credit that travels with the network.

    NODE is the node's id, or its short form (the first characters of the id,
    as lists show it) when this node knows it. A practice this node has not
    seen from NODE is refused: sync first, or give --anyway if it has simply
    not arrived yet.
    """

    async def thank() -> bytes:
        async with open_store(data_dir) as store:
            to = await store.resolve_node(node)
            try:
                await store.publish_credit(to, practice, note=note, anyway=anyway)
            except LocalProblem as exc:
                if exc.code != UNSEEN_PRACTICE:
                    raise
                raise UserError(f"{exc.message}. Sync first (`hedgerow sync`), or credit it "
                                "all the same with --anyway") from None
            return to

    to = run(thank())
    click.echo(f"credited {short_id(to)} for {practice}; {_spread_hint(data_dir)}")


@credit.command("withdraw")
@data_dir_option
@click.argument("node")
@click.argument("practice")
@click.option("--reason", default="", help="Why it is withdrawn (published with the withdrawal).")
def credit_withdraw(data_dir: Path, node: str, practice: str, reason: str) -> None:
    """Withdraw this node's credit of NODE for PRACTICE.

    A signed withdrawal replaces the credit, here and, as it spreads, on
    every node. Crediting it again later replaces the withdrawal.
    """

    async def take_back() -> tuple[bytes, int]:
        async with open_store(data_dir) as store:
            to = await store.resolve_node(node)
            signed = await store.withdraw_credit(to, practice, reason=reason)
            return to, int(decode(signed.payload)["version"])

    to, version = run(take_back())
    click.echo(f"withdrew the credit to {short_id(to)} for {practice} (version {version}); "
               f"{_spread_hint(data_dir)}")
