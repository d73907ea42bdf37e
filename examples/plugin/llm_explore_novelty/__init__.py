"""llm-explore-novelty: an example llm-explore plugin (a method, an env family, a backend, a prompt).

It imports only from `llm_explore.api`, the public API.
"""
