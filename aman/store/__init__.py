"""Storage: the SQLite database, its migrations and one repository class per concept.

SQL lives only in this package, and it imports only the values it stores (``model`` modules),
``aman.errors`` and ``aman.ids``. Each class implements the repository protocol declared beside
those values, which the services depend on, so another backend (PostgreSQL) implements the same
protocols, passes the same contract suite (``tests/store/contract``) and replaces these classes
without touching the services.
"""
