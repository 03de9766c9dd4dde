"""Databases built by the migrations before the baseline are marked, not migrated again.

Until issue 13 the schema was built by the 17 Piccolo migrations of ``OLD_CHAIN``; the
baseline migration (store/migrations/store_2026_11_27t00_00_00_000000.py) creates the same
schema in one step, and the two trigger migrations of the chain stay under their ids. A
database that ran the whole old chain already has that schema, so ``aimis migrate`` records
the baseline as applied without running it (Piccolo's "fake" forward), then applies what
comes after as usual. A database that ran only part of the chain lacks part of the schema:
it is refused, with the way to bring it up to date first.
"""

from __future__ import annotations

from piccolo.apps.migrations.tables import Migration

from kernel.errors import AppError

APP = "store"
BASELINE = "2026-11-27T00:00:00:000000"
# The last commit that has the old chain: it brings a partly migrated database up to date.
LAST_OLD_CHAIN_COMMIT = "2858aed4dc35"
OLD_CHAIN = (
    "2026-11-27T18:35:43:767279",
    "2026-11-27T18:52:54:312404",
    "2026-11-27T18:58:02:320261",
    "2026-11-27T21:20:00:759882",
    "2026-11-27T21:29:30:854774",
    "2026-11-27T21:34:03:259966",
    "2026-11-27T22:13:58:181864",
    "2026-11-27T22:15:34:433078",
    "2026-11-27T22:52:33:970311",
    "2026-11-28T00:40:52:944720",
    "2026-11-28T00:59:42:614360",
    "2026-11-28T01:00:00:000000",  # kept: the examination count triggers
    "2026-11-28T02:12:35:373492",
    "2026-11-28T02:12:36:000000",  # kept: the shared_with triggers
    "2026-12-06T20:01:30:091226",
    "2026-12-06T20:04:31:388576",
    "2026-12-06T20:04:32:000000",
)


async def mark_old_chain() -> bool:
    """Record the baseline as applied on a database that ran the whole old chain (True);
    nothing on a new or already marked one (False); refuse a partly migrated one."""
    if not await Migration.table_exists():
        return False
    ran = set(await Migration.get_migrations_which_ran(app_name=APP))
    if BASELINE in ran or not ran & set(OLD_CHAIN):
        return False
    missing = [mid for mid in OLD_CHAIN if mid not in ran]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise AppError(
            "This database ran only {ran} of the {total} migrations that this version's "
            "baseline replaces (missing: {missing}{more}), so its schema is incomplete and it "
            "cannot be marked as migrated. Bring it up to date with the AIMIS of commit "
            "{commit} (`git checkout {commit} && uv run aimis migrate`), then run this "
            "version's `aimis migrate` again.",
            ran=len(OLD_CHAIN) - len(missing),
            total=len(OLD_CHAIN),
            missing=", ".join(missing[:3]),
            more=more,
            commit=LAST_OLD_CHAIN_COMMIT,
        )
    await Migration.insert(Migration(name=BASELINE, app_name=APP))
    return True
