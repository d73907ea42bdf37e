"""Environment adapters: Gymnasium envs that speak text to the LLM and numbers to the policy."""
