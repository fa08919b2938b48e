"""Lead files and addresses: pure code (no I/O) shared by the API, the import activities,
the suppression list and the benchmark."""
