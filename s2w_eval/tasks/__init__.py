"""Evaluations as tasks on the shared runner: pam, chords (and every evaluation added later)."""
