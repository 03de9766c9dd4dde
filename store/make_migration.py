"""Generate a Piccolo auto-migration on a scratch PostgreSQL database (DESIGN.md: auto
migrations are unreliable on SQLite) and strip one known false positive.

The first tables were created with Piccolo's implicit primary key and later declared it
explicitly (``id = Serial(primary_key=True)``, for type checkers); Piccolo's snapshot then
believes every such ``id`` column is new. Run: ``uv run python -m store.make_migration "desc"``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
ADMIN = os.environ.get("AIMIS_MIGRATION_PG", "postgresql://postgres@127.0.0.1:5432")


def strip_false_ids(path: Path) -> int:
    text = path.read_text()
    created = set(re.findall(r'manager\.add_table\(\s*class_name="(\w+)"', text))
    kept, removed = [], 0
    for block in re.split(r"(?=\n    manager\.)", text):
        table = re.search(r'manager\.add_column\(\s*table_class_name="(\w+)"', block)
        if table and table.group(1) not in created and 'column_name="id"' in block:
            removed += 1
            kept.append(block[block.index("\n    )") + 6 :])
            continue
        kept.append(block)
    path.write_text("".join(kept))
    return removed


def main(description: str) -> None:
    name = f"aimis_mig_{uuid.uuid4().hex[:8]}"
    subprocess.run(["psql", f"{ADMIN}/postgres", "-qc", f'CREATE DATABASE "{name}"'], check=True)
    env = {
        **os.environ,
        "AIMIS_DATABASE_URL": f"{ADMIN}/{name}",
        "PICCOLO_CONF": "store.piccolo_conf",
    }
    try:
        before = set(MIGRATIONS.glob("store_*.py"))
        subprocess.run(["piccolo", "migrations", "forwards", "store"], env=env, check=True)
        subprocess.run(
            ["piccolo", "migrations", "new", "store", "--auto", f"--desc={description}"],
            env=env,
            check=True,
        )
        for path in set(MIGRATIONS.glob("store_*.py")) - before:
            print(f"{path.name}: stripped {strip_false_ids(path)} false id columns")
        subprocess.run(["piccolo", "migrations", "forwards", "store"], env=env, check=True)
    finally:
        subprocess.run(["psql", f"{ADMIN}/postgres", "-qc", f'DROP DATABASE "{name}" WITH (FORCE)'])


if __name__ == "__main__":
    main(" ".join(sys.argv[1:]) or "change")
