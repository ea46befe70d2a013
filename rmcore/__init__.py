"""rmcore: the reward core. Trains and scores pairwise reward models; knows nothing of Prefect or MLflow."""

from rmcore.evaluation.metrics import compute_accuracy, compute_reward_metrics, reward_metrics
from rmcore.models.loading import load_reward_model
from rmcore.models.reward_function import RewardFunction
from rmcore.models.scoring import ScoringConfig, score_texts
from rmcore.training.collator import DataCollatorForPreference, RewardDataCollatorWithPadding
from rmcore.training.config import RewardConfig
from rmcore.training.loss import pairwise_accuracy, pairwise_loss
from rmcore.training.trainer import RewardTrainer

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
