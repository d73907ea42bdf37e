"""The Typer command-line interface (`llm-explore`)."""
