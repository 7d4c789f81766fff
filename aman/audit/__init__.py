"""The audit log: who did what to which target, with what outcome; append-only and hash-chained."""
