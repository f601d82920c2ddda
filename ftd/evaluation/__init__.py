"""Evaluation: the fine-tuned model against its base on held-out items, with honest statistics."""
