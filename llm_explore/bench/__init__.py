"""Benchmark suites: declarative grids the product runs (`llm-explore bench`), results and leaderboards."""
