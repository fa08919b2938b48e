"""Deterministic workflow code only (DESIGN rule 2). One file per workflow kind."""
