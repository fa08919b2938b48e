"""What workflows may import of the activities: each area's input and output dataclasses and
activity names, with no dependency beyond the standard library (an import-linter contract
keeps it so)."""
