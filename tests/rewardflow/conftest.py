"""Fixtures for the command-line tests: the bad-input corpus of the data tests."""

from tests.tasks.conftest import bad_corpus, write_pairs  # noqa: F401  (the same rows, the same rules)
