"""Templates of the novelty method: `novelty/rate.j2` (the `llm_explore.prompts` entry point names this folder)."""
