"""`rewardflow serve`: the champion reward model over HTTP for an RL loop, batched and following the registry."""
