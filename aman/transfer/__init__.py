"""Moving a whole store between backends (``aman migrate-store``) and checking the copy."""

from aman.transfer.model import (
    InvalidStoreUrlError,
    StoreLocation,
    TableReport,
    TransferRefusedError,
    TransferReport,
    parse_store_url,
)
from aman.transfer.service import migrate_store

__all__ = ["InvalidStoreUrlError", "StoreLocation", "TableReport", "TransferRefusedError",
           "TransferReport", "migrate_store", "parse_store_url"]
