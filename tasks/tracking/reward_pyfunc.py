"""The registered reward model as an MLflow pyfunc: `predict(texts) -> rewards`.

MLflow logs this file with the model ("models from code": no pickle, which MLflow 3 refuses to load by
default) and runs it when the model is loaded; `set_model` at the bottom tells MLflow which object is the
model. It imports only MLflow and `rmcore`, which is logged with the model (`code/rmcore`), so the model
scores with the code it was gated with wherever it is served.

Each input is a full text (prompt + reply) or a conversation given as its JSON message list
(`[{"role": "user", "content": ...}, ...]`, as rmcore's store keeps them): conversations are rendered
with the model's chat template. Scoring is `rmcore.RewardFunction`'s: training's tokenization, float32.
"""

from __future__ import annotations

import mlflow
from mlflow.pyfunc import PythonModel

MODEL_ARTIFACT = "model"  # the model folder's key in the pyfunc's artifacts (logged under artifacts/model)


class RewardModelPyfunc(PythonModel):
    """One raw reward per input text or JSON conversation, as `rewardflow evaluate` scores them."""

    def load_context(self, context) -> None:
        from rmcore.models.reward_function import RewardFunction

        trusted = bool((context.model_config or {}).get("trust_remote_code", False))  # as training loaded it
        self.reward = RewardFunction(context.artifacts[MODEL_ARTIFACT], trust_remote_code=trusted)

    def predict(self, model_input: list[str], params: dict | None = None) -> list[float]:
        from rmcore.data.chat import decode_messages

        return self.reward.score([decode_messages(text) for text in model_input])


mlflow.models.set_model(RewardModelPyfunc())
