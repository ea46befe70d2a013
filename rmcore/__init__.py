"""rmcore: the reward core. Trains and scores pairwise reward models; knows nothing of Prefect or MLflow."""

from rmcore.collator import DataCollatorForPreference, RewardDataCollatorWithPadding
from rmcore.config import RewardConfig
from rmcore.loss import pairwise_accuracy, pairwise_loss
from rmcore.metrics import compute_accuracy, compute_reward_metrics, reward_metrics
from rmcore.models import load_reward_model
from rmcore.reward_function import RewardFunction
from rmcore.scoring import ScoringConfig, score_texts
from rmcore.trainer import RewardTrainer

__all__ = [
    "DataCollatorForPreference",
    "RewardConfig",
    "RewardDataCollatorWithPadding",
    "RewardFunction",
    "RewardTrainer",
    "compute_accuracy",
    "compute_reward_metrics",
    "load_reward_model",
    "pairwise_accuracy",
    "pairwise_loss",
    "reward_metrics",
    "ScoringConfig",
    "score_texts",
]
