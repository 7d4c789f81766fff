"""Backup and restore of a runtime dir: one ``.tar.gz`` with a manifest and checksums."""

from aman.backup.archive import (
    BackupError,
    BackupResult,
    RestoreResult,
    create_backup,
    read_manifest,
    restore_backup,
)

__all__ = ["BackupError", "BackupResult", "RestoreResult", "create_backup", "read_manifest",
           "restore_backup"]
