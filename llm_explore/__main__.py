"""`python -m llm_explore` runs the CLI."""

from llm_explore.cli.app import main

main()
