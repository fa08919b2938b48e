"""PenguinMails shared kernel: settings, database, secrets, Temporal client, dev stack."""
