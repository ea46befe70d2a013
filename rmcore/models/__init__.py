"""Reward models: loading and checking them, their tokenizer as trained, scoring texts,
the reward scale, and the reward function an RL loop calls."""
