"""The ``aimis`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import store  # noqa: F401  (sets PICCOLO_CONF before any table is used)
from aimis.settings import get_settings


async def migrate() -> None:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    get_settings().data_dir.mkdir(parents=True, exist_ok=True)
    result = await run_forwards("store")
    if not result.success:
        raise SystemExit(f"migration failed: {result.message}")


async def _with_pool(coro):  # type: ignore[no-untyped-def]
    from store.db import close_pool, start_pool

    await start_pool()
    try:
        return await coro
    finally:
        await close_pool()


def cmd_migrate(_: argparse.Namespace) -> None:
    asyncio.run(migrate())


def cmd_demo(_: argparse.Namespace) -> None:
    from aimis.demo import load_demo, print_accounts

    accounts = asyncio.run(_with_pool(load_demo()))
    print_accounts(accounts, get_settings().base_url)


def cmd_create_alliance(args: argparse.Namespace) -> None:
    from aimis.errors import AppError
    from api.management.service import create_alliance
    from store.uow import Ctx

    ctx = Ctx(ip="cli", user_agent="aimis operator")
    try:
        alliance_id = asyncio.run(
            _with_pool(create_alliance(ctx, args.name, args.admin, args.password))
        )
    except AppError as exc:
        raise SystemExit(f"error: {exc.message}") from None
    print(
        f"Alliance {args.name!r} created (id {alliance_id}); its admin {args.admin!r} logs in "
        f"at {get_settings().base_url}/admin/login"
    )


def cmd_serve(_: argparse.Namespace) -> None:
    import uvicorn

    settings = get_settings()
    uvicorn.run(
        "aimis.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level="info",
        ws="websockets-sansio",
    )


def cmd_up(args: argparse.Namespace) -> None:
    from aimis.up import run_up

    raise SystemExit(run_up(no_prefect=args.no_prefect))


def cmd_dispatcher(_: argparse.Namespace) -> None:
    from flows.dispatcher import run_dispatcher

    asyncio.run(run_dispatcher())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aimis", description="AIMIS medical imaging platform")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start everything: Prefect server, dispatcher, web app")
    up.add_argument("--no-prefect", action="store_true", help="use an external Prefect API")
    up.set_defaults(func=cmd_up)
    sub.add_parser("serve", help="run the web app only").set_defaults(func=cmd_serve)
    sub.add_parser("dispatcher", help="run the outbox dispatcher only").set_defaults(
        func=cmd_dispatcher
    )
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("demo", help="load demo data (idempotent), print accounts").set_defaults(
        func=cmd_demo
    )
    operator = sub.add_parser("operator", help="platform operator commands")
    op_sub = operator.add_subparsers(dest="operator_command", required=True)
    ca = op_sub.add_parser("create-alliance", help="create an alliance and its admin")
    ca.add_argument("name")
    ca.add_argument("--admin", required=True, help="user name of the alliance admin")
    ca.add_argument("--password", required=True)
    ca.set_defaults(func=cmd_create_alliance)
    return parser


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
