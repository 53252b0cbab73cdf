"""Every ``hedgerow`` command has a JSON API route doing its work, except the local-only ones,
each listed with its reason (node/web/api_ops.py); and every route is in the OpenAPI document.

From now on every new command gets its route: this test fails until it does.
"""

from __future__ import annotations

import re

import click
from aiohttp import web

from cli.main import hedgerow
from node.web.api import api_routes, covered_commands, openapi_document
from node.web.api_ops import API_PREFIX, LOCAL_ONLY_COMMANDS, OPERATIONS


def cli_commands() -> list[str]:
    """Every command, as typed after `hedgerow` ("record add", "status", …): the leaves,
    and groups that do something by themselves (`invite`)."""
    found: list[str] = []

    def walk(command: click.Command, path: list[str], ctx: click.Context) -> None:
        if isinstance(command, click.Group):
            if command.invoke_without_command:  # a group that is a command itself
                found.append(" ".join(path))
            for name in command.list_commands(ctx):
                child = command.get_command(ctx, name)
                assert child is not None
                walk(child, [*path, name], click.Context(child, parent=ctx, info_name=name))
        else:
            found.append(" ".join(path))

    walk(hedgerow, [], click.Context(hedgerow, info_name="hedgerow"))
    return found


def test_every_command_has_a_route_or_a_reason() -> None:
    commands = cli_commands()
    assert "record add" in commands and "backup test" in commands  # the walk sees groups
    covered = covered_commands()
    missing = [c for c in commands
               if c not in covered and c not in LOCAL_ONLY_COMMANDS]
    assert not missing, f"commands without an API route (add one, or say why not): {missing}"
    # No stale entries: every command named is a command.
    assert not [c for c in (*covered, *LOCAL_ONLY_COMMANDS) if c not in commands]
    assert all(len(reason) > 20 for reason in LOCAL_ONLY_COMMANDS.values())
    assert not set(covered) & set(LOCAL_ONLY_COMMANDS)


def test_every_route_is_described_and_served() -> None:
    document = openapi_document()
    paths = document["paths"]
    for op in OPERATIONS:
        described = paths[API_PREFIX + op.path][op.method.lower()]
        assert described["summary"] and described["responses"]
        if op.writes and op.body_type == "application/json" and op.body is not None:
            assert "requestBody" in described
    app = web.Application()
    app.add_routes(api_routes())
    served = [(route.method, re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+",
                                               re.escape(route.resource.canonical)) + "$"))
              for route in app.router.routes() if route.resource is not None]
    for path, methods in paths.items():
        for method in methods:
            assert any(m == method.upper() and pattern.match(path) for m, pattern in served), \
                (method, path)
    ids = [op.operation_id for op in OPERATIONS]
    assert len(ids) == len(set(ids))
