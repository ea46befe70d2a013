"""Training: `RewardConfig`, the collator, the pairwise loss, `RewardTrainer` and how it is launched and interrupted."""
