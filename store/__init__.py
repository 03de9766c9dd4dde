"""App database: tables, migrations, transactions, scoping, unit of work."""

import os

# Piccolo finds its engine through this module path, wherever the process was started.
os.environ.setdefault("PICCOLO_CONF", "store.piccolo_conf")
