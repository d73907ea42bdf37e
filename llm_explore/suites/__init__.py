"""The shipped bench suites (YAML files; `llm-explore bench list`)."""
