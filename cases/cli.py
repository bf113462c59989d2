"""``switchboard apikeys``: API keys for device alerts (``POST /api/v1/device-alerts``).

``add NAME`` prints a new key once; only its SHA-256 is stored, so a lost
key is replaced, not recovered. ``list`` shows names and ids, never keys;
``revoke NAME`` ends a key (its devices get 401 from then on).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="switchboard apikeys", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create a key and print it once")
    add.add_argument("name")
    add.add_argument("--config", help="TOML config file (for the database URL)")
    revoke = sub.add_parser("revoke", help="revoke a key: devices using it get 401")
    revoke.add_argument("name")
    revoke.add_argument("--config", help="TOML config file (for the database URL)")
    listing = sub.add_parser("list", help="list keys (names and ids only)")
    listing.add_argument("--config", help="TOML config file (for the database URL)")
    return parser


async def _run(args: argparse.Namespace) -> int:
    from audit import AuditStore
    from cases.errors import CaseError
    from cases.store import CaseStore
    from conversations import Store
    from conversations.times import utcnow
    from gateway.settings import load_settings

    settings = load_settings(args.config)
    store = await Store.open(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        keys = CaseStore(store.engines)
        audit = AuditStore(store.engines)
        if args.command == "add":
            name = args.name.strip()
            if not name or len(name) > 100:
                print("error: the name must be 1 to 100 characters", file=sys.stderr)
                return 1
            try:
                key_id, key = await keys.create_api_key(name, utcnow())
            except CaseError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            await audit.add(
                "api_key_created",
                actor_name="cli",
                subject_type="api_key",
                subject_id=key_id,
                subject_name=name,
            )
            print(key)
            print(f"created API key {name} ({key_id}); it is shown only now", file=sys.stderr)
            return 0
        if args.command == "revoke":
            if not await keys.revoke_api_key(args.name, utcnow()):
                print(f"error: no live API key named {args.name!r}", file=sys.stderr)
                return 1
            await audit.add(
                "api_key_revoked", actor_name="cli", subject_type="api_key", subject_name=args.name
            )
            print(f"revoked API key {args.name}")
            return 0
        for key_id, name, created_at, revoked_at in await keys.api_keys():
            state = " (revoked)" if revoked_at else ""
            print(f"{name}\t{key_id}\t{created_at.isoformat()}{state}")
        return 0
    finally:
        await store.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return asyncio.run(_run(args))
