"""Launchers for the embedded services of the dev stack and the test fixtures.

Each launcher starts a real server from a wheel or a Debian package on a loopback port,
keeps its state in a folder it is given, and stops it cleanly.
"""
