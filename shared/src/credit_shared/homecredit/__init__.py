"""The Home Credit Default Risk data: table schemas (and, with ingestion, readers and glossary)."""
