"""Every side effect lives here (DESIGN rule 3); each activity is idempotent."""
