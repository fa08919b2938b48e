"""The `penguinmails` command line: an entry point beside `api`, one module per command
group (`dev`, `migrate`, `tenant`, `staff`, `leads`). It may use the kernel, the use cases
and the dev stack; nothing imports it."""
