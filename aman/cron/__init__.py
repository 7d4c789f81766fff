"""Cron jobs: definitions stored in SQLite, timing by APScheduler 3, firings on the bus.

``model`` holds the pure parts (job records, expression and time zone parsing, catch-up planning),
``service`` the ``CronService``, and ``scheduler`` the APScheduler glue, which is imported only
once an enabled job exists (the idle daemon's memory budget, see docs/benchmarks.md).
"""
