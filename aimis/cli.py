"""The ``aimis`` command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from kernel.settings import get_settings


async def migrate() -> None:
    """``aimis migrate``, saying why when it cannot."""
    from store.migrate import MigrationFailed
    from store.migrate import migrate as run

    try:
        note = await run()
    except MigrationFailed as exc:
        raise SystemExit(str(exc)) from None
    if note:
        print(note)


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
    from api.management.hospitals import create_alliance
    from kernel.errors import AppError
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
        host=settings.server.host,
        port=settings.server.port,
        log_level="info",
        ws="websockets-sansio",
        # X-Forwarded-For/-Proto only from the operator's proxies (uvicorn's own default
        # believes 127.0.0.1): the client address is what rate limits and the audit keep.
        proxy_headers=bool(settings.server.trusted_proxies),
        forwarded_allow_ips=settings.server.trusted_proxies or None,
    )


def cmd_up(args: argparse.Namespace) -> None:
    from aimis.up import run_up

    raise SystemExit(run_up(no_prefect=args.no_prefect))


def cmd_dispatcher(_: argparse.Namespace) -> None:
    from flows.dispatcher import run_dispatcher

    asyncio.run(run_dispatcher())


def cmd_import(args: argparse.Namespace) -> None:
    from pathlib import Path

    from aimis.imports import import_files
    from kernel.errors import AppError

    try:
        run_id, state = asyncio.run(
            _with_pool(import_files(Path(args.path), args.hospital, args.now))
        )
    except AppError as exc:
        raise SystemExit(f"error: {exc.message}") from None
    where = f"{get_settings().base_url}/manage/migrations/{run_id}"
    print(f"migration run {run_id}: {state} ({where})")


def cmd_synth(args: argparse.Namespace) -> None:
    from pathlib import Path

    from imaging.synth import Sizes, synth

    sizes = Sizes.small() if args.small else Sizes()
    files = synth(Path(args.out), patients=args.patients, sizes=sizes, seed=args.seed)
    print(f"wrote {len(files)} synthetic DICOM files under {args.out}")


def cmd_scp(_: argparse.Namespace) -> None:
    from api.dimse.scp import run_scp

    raise SystemExit(run_scp())


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
    imp = sub.add_parser("import", help="import DICOM files (a folder, a zip or a file)")
    imp.add_argument("path")
    imp.add_argument("--hospital", required=True, help="code of the hospital, e.g. CITY")
    imp.add_argument("--now", action="store_true", help="migrate here, not by the dispatcher")
    imp.set_defaults(func=cmd_import)
    syn = sub.add_parser("synth", help="write synthetic DICOM studies of fake patients")
    syn.add_argument("out")
    syn.add_argument("--patients", type=int, default=3)
    syn.add_argument("--small", action="store_true", help="small images (fast)")
    syn.add_argument("--seed", type=int, default=None, help="same seed, same studies")
    syn.set_defaults(func=cmd_synth)
    sub.add_parser("scp", help="run the DICOM C-ECHO/C-STORE receiver only").set_defaults(
        func=cmd_scp
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
    # Before anything imports Prefect (flows, the dispatcher): its API is ours, not a
    # throw-away server of its own; an explicit PREFECT_API_URL (a worker's) wins.
    os.environ.setdefault("PREFECT_API_URL", get_settings().prefect_api)
    args.func(args)


if __name__ == "__main__":
    main(sys.argv[1:])
