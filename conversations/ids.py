"""Opaque, prefixed ids: the prefix tells a reader of logs what an id names.

They are UUIDv7, so they sort by creation time: a new message's id lands at
the right edge of the primary key's index instead of on a random page (a
random key dirtied a page per message, and each was written out at commit),
and making one is no system call (``uuid4`` asked the kernel for every id, and
let go of the GIL to do it). None of them is a secret.
"""

import uuid_utils


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid_utils.uuid7().hex}"
