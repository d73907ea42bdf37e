"""Thin entry point: `python cli.py ...` is the same as the installed `llm-explore` command."""

from llm_explore.cli.app import main

if __name__ == "__main__":
    main()
