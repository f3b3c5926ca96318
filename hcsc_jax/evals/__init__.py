"""Evaluation protocols on learned features (SPEC Sec. 7)."""
