"""Names that jobs queued by earlier releases still carry in Redis (digests used to live here)."""
