"""The PPO learner, its encoders and reward shapers."""
