"""App database: tables, migrations, transactions, scoping, unit of work."""
