"""Experiment configs: each module's get_config(arg=None) -> ConfigDict."""
