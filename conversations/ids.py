"""Opaque, prefixed ids: the prefix tells a reader of logs what an id names."""

import uuid


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"
