"""Pairs in: pair files, conversational rows and how they render,
tokenization that truncates and never drops, path safety."""
