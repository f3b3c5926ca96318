"""Evaluation protocols on learned features (docs/method.md §7)."""
