"""Use cases that start or signal workflows, shared by the API and the command line.

The kernel (`penguinmails`) holds the library these build on and imports none of them;
`api` and `cli` call them; workflows and activities never do.
"""
