"""The ``switchboard`` command: serve, check-config, users, hash-password."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Sequence

from gateway.errors import ConfigError
from gateway.settings import Settings, check_file, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard", description="Omnichannel conversation gateway for customer service."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the gateway (HTTP, websockets, SMTP)")
    serve.add_argument("--config", help="TOML config file")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--smtp-port", type=int)
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes sharing the port, each a cluster node (needs Redis and PostgreSQL)",
    )
    # A worker of ``--workers``: the sockets its supervisor bound (HTTP,SMTP).
    serve.add_argument("--inherit-fds", help=argparse.SUPPRESS)

    check = sub.add_parser("check-config", help="validate a config file without serving")
    check.add_argument("file")

    users = sub.add_parser("users", help="manage accounts in the configured database")
    users_sub = users.add_subparsers(dest="users_command", required=True)
    add = users_sub.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--role", choices=["agent", "supervisor", "admin", "bot"], default="agent")
    add.add_argument("--display-name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--config", help="TOML config file (for the database URL)")
    listing = users_sub.add_parser("list", help="list accounts")
    listing.add_argument("--config", help="TOML config file (for the database URL)")

    sub.add_parser("hash-password", help="print an argon2 hash of a password read from stdin")

    sentiment = sub.add_parser("sentiment", help="sentiment tools", add_help=False)
    sentiment.add_argument("rest", nargs=argparse.REMAINDER)

    apikeys = sub.add_parser("apikeys", help="API keys for device alerts", add_help=False)
    apikeys.add_argument("rest", nargs=argparse.REMAINDER)

    skills = sub.add_parser("skills", help="skill finder: train an intent model", add_help=False)
    skills.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


def _settings(path: str | None, **overrides: str | int | None) -> Settings:
    return load_settings(path, overrides)


def _read_password(from_stdin: bool) -> str:
    password = sys.stdin.readline().rstrip("\r\n") if from_stdin else getpass.getpass("Password: ")
    if len(password) < 8:
        raise SystemExit("error: the password must be at least 8 characters")
    return password


async def _users_add(settings: Settings, args: argparse.Namespace, password: str) -> int:
    from audit import AuditStore
    from conversations import Store, UserExists
    from gateway.auth import hash_password

    store = await Store.open(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        user = await store.create_user(
            username=args.username,
            role=args.role,
            password_hash=hash_password(password),
            display_name=args.display_name,
        )
        await AuditStore(store.engines).add(
            "user_created",
            actor_name="cli",
            subject_type="user",
            subject_id=user.id,
            subject_name=user.username,
            role=user.role,
        )
    except UserExists as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    print(f"created {user.role} {user.username} ({user.id})")
    return 0


async def _users_list(settings: Settings) -> int:
    from conversations import Store

    store = await Store.open(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    try:
        for user in await store.list_users():
            state = " (disabled)" if user.disabled else ""
            print(f"{user.username}\t{user.role}\t{user.id}{state}")
    finally:
        await store.close()
    return 0


def _serve(args: argparse.Namespace) -> int:
    from gateway.server import serve
    from gateway.workers import Supervisor, check_workers, inherited, watch_parent

    settings = _settings(args.config, host=args.host, port=args.port, smtp_port=args.smtp_port)
    check_workers(settings, args.workers)
    if args.inherit_fds:
        watch_parent()
        http, smtp = inherited(args.inherit_fds)
        serve(settings, sockets=[http], smtp_socket=smtp)
        return 0
    if args.workers == 1:
        serve(settings)
        return 0
    from gateway.server import configure_logging

    configure_logging(settings)
    passed = [
        f"{flag}={value}"
        for flag, value in (
            ("--config", args.config),
            ("--host", args.host),
            ("--port", args.port),
            ("--smtp-port", args.smtp_port),
        )
        if value is not None
    ]
    return Supervisor(settings, args.workers, passed).run()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        if args.command == "check-config":
            check_file(args.file)
            print(f"{args.file}: ok")
            return 0
        if args.command == "hash-password":
            from gateway.auth import hash_password

            print(hash_password(_read_password(True)))
            return 0
        if args.command == "users":
            settings = _settings(args.config)
            if args.users_command == "add":
                password = _read_password(args.password_stdin)
                return asyncio.run(_users_add(settings, args, password))
            return asyncio.run(_users_list(settings))
        if args.command == "sentiment":
            from sentiment.cli import main as sentiment_main

            return sentiment_main(args.rest)
        if args.command == "apikeys":
            from cases.cli import main as apikeys_main

            return apikeys_main(args.rest)
        if args.command == "skills":
            from intents.cli import main as skills_main

            return skills_main(args.rest)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
