"""llm-explore: foundation models guide exploration for reinforcement-learning agents."""

__version__ = "0.1.0"
