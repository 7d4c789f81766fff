"""Storage: the SQLite database, its migrations and one repository class per concept.

SQL lives only in this package. Services see repositories with narrow typed methods that return
model objects, so another backend (PostgreSQL) can replace these classes without touching them.
"""
