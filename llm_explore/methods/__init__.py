"""One module per LLM-guided exploration method. A method never imports another method."""
