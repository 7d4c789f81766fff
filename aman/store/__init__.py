"""Storage: the databases (embedded SQLite, or PostgreSQL in ``pg``), their migrations and one
repository class per concept.

SQL lives only in this package, and it imports only the values it stores (``model`` modules),
``aman.errors`` and ``aman.ids``. Each repository implements the protocol declared beside those
values, which the services depend on, and runs on either database: its SQL is written once, and
the few fragments where the two databases differ come from the database's dialect (``sql``). The
contract suite (``tests/store/contract``) runs every repository on both.
"""
