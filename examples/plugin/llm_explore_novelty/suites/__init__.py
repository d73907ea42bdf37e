"""Bench suites of the plugin (`llm-explore bench list` shows them beside the shipped ones)."""
