"""Mail: pure message building, HTML to text, DKIM keys and records. No I/O here."""
