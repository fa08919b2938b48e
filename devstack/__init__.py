"""The development stack: embedded service launchers, the SMTP sink, the loopback DNS,
Dovecot, the OpenBao bootstrap and `DevStack` (`make run`, the test fixtures, benchmarks).

Development tooling only: production code (the kernel, api, worker, activities) never
imports it — an import-linter contract checks that.
"""
