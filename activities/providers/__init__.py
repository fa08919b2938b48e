"""VPS provider adapters (the protocol is `penguinmails.providers.VpsProvider`)."""
