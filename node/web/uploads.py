"""Forms with a file (a backup to restore): streamed to disk, capped, checked first.

Such a form is ``multipart/form-data`` and its first field must be the
CSRF token (the templates put it first): the token is checked before a
byte of the file is read. The text fields before the file go to the
caller's ``before_file`` check (the setup page checks its setup code and
rate limit there), so nothing from a visitor who may not upload is ever
written to disk. The file goes to a temporary file in the data directory
(mode 0600, same file system as the database) in chunks, and the upload is
refused as soon as it passes the cap or stalls for :data:`UPLOAD_IDLE_S`.
A partial file is deleted whatever ends the upload — the cap, a stall, the
connection dropping, the node stopping — and the caller deletes a complete
one when done (:meth:`Upload.discard`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from aiohttp import BodyPartReader, web

from ..errors import InvalidInput
from .auth import CSRF_FIELD, Session, check_csrf
from .forms import MAX_FIELD, Form

__all__ = ["MAX_BACKUP_BYTES", "UPLOAD_IDLE_S", "BeforeFile", "CsrfRefused", "Upload",
           "read_upload"]

#: Called with the text fields read so far when the file part begins: raises to stop
#: the upload there, returns whether to keep the file (False: skip it unread).
BeforeFile = Callable[[Form], Awaitable[bool]]

#: The largest backup the pages accept. A backup is the node's database: its private
#: records (kilobytes) and every current entry of the network it holds, about 1.9 KB
#: each with their indexes (measured: 20,000 practice summaries with descriptions of a
#: few sentences make a 37 MB database). A network of 2,000 groups with 20 practices
#: each is about 44,000 entries, some 82 MB; the cap holds some 140,000, and stops a
#: stranger filling the disk.
MAX_BACKUP_BYTES: Final = 256 * 1024 * 1024
#: An upload that sends nothing for this long is dropped (and its partial file deleted).
UPLOAD_IDLE_S: Final = 60.0
_CHUNK: Final = 256 * 1024
_MAX_TEXT_PARTS: Final = 50


class CsrfRefused(Exception):
    """The upload's first field was not this session's CSRF token."""


@dataclass(slots=True)
class Upload:
    form: Form
    file: Path | None
    file_size: int = 0

    def discard(self) -> None:
        if self.file is not None:
            self.file.unlink(missing_ok=True)
            self.file = None


async def _chunk(part: BodyPartReader, size: int) -> bytes:
    try:
        async with asyncio.timeout(UPLOAD_IDLE_S):
            return await part.read_chunk(size)
    except TimeoutError:
        raise InvalidInput("the upload stalled: nothing arrived for "
                           f"{UPLOAD_IDLE_S:g} seconds", code="too_slow") from None


async def _text(part: BodyPartReader, name: str) -> str:
    data = bytearray()
    while chunk := await _chunk(part, 8192):
        data += chunk
        if len(data) > MAX_FIELD * 4:
            raise InvalidInput(f"{name.replace('_', ' ')}: far too long", field=name,
                               code="too_long")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{name.replace('_', ' ')}: must be text", field=name,
                           code="wrong_type") from None


async def _save(part: BodyPartReader, folder: Path, limit: int, field: str) -> tuple[Path, int]:
    fd, name = tempfile.mkstemp(prefix=".upload-", dir=folder)
    path = Path(name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await _chunk(part, _CHUNK):
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(f"{field}: the file is larger than "
                                       f"{limit // (1024 * 1024)} MiB", field=field,
                                       code="too_large")
                await asyncio.to_thread(out.write, chunk)
        if not part.at_eof():
            # The stream ended before the part did: the connection dropped.
            raise InvalidInput(f"{field}: the upload was cut off", field=field,
                               code="incomplete")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size


async def read_upload(request: web.Request, session: Session, *, file_field: str,
                      folder: Path, limit: int | None = None,
                      before_file: BeforeFile | None = None) -> Upload:
    """Read a multipart form: CSRF token first, text fields, at most one file (``file_field``).

    ``before_file`` sees the text fields before a byte of the file is read
    (see :data:`BeforeFile`). Raises :class:`CsrfRefused`, whatever
    ``before_file`` raises, or :class:`InvalidInput` for a form that is not
    what the page sends (too large, fields of the wrong kind, cut off).
    ``limit`` defaults to :data:`MAX_BACKUP_BYTES`.
    """
    limit = MAX_BACKUP_BYTES if limit is None else limit
    if request.content_type == "application/x-www-form-urlencoded":
        # No file at all (a script, or a browser that dropped it); the guard
        # middleware has checked the token of such a form already.
        return Upload(Form(await request.post()), None)
    if request.content_type != "multipart/form-data":
        raise InvalidInput("this form sends a file: it must be sent as multipart/form-data",
                           field=file_field, code="wrong_type")
    if request.content_length is not None and request.content_length > limit + 1024 * 1024:
        raise InvalidInput(f"{file_field}: the file is larger than "
                           f"{limit // (1024 * 1024)} MiB", field=file_field, code="too_large")
    reader = await request.multipart()
    first = await reader.next()
    if not isinstance(first, BodyPartReader) or first.name != CSRF_FIELD \
            or not check_csrf(session, await _text(first, CSRF_FIELD)):
        raise CsrfRefused
    fields: dict[str, str] = {}
    upload = Upload(Form(fields), None)
    try:
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader) or not part.name:
                raise InvalidInput("the form holds a part this page does not know",
                                   code="wrong_type")
            if part.name == file_field:
                if upload.file is not None:
                    raise InvalidInput(f"{file_field}: send one file", field=file_field)
                if not part.filename:
                    await part.release()
                    continue
                if before_file is not None and not await before_file(upload.form):
                    await part.release()
                    continue
                upload.file, upload.file_size = await _save(part, folder, limit, file_field)
                if upload.file_size == 0:
                    upload.discard()
            elif len(fields) >= _MAX_TEXT_PARTS or part.filename:
                raise InvalidInput(f"{part.name[:40]}: must be text, not a file",
                                   field=part.name[:40], code="wrong_type")
            else:
                fields[part.name] = await _text(part, part.name)
    except BaseException:
        with contextlib.suppress(OSError):
            upload.discard()
        raise
    return upload
