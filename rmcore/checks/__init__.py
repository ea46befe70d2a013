"""The pipeline's quality checks: the health of a new batch, and the champion-versus-challenger gate."""
