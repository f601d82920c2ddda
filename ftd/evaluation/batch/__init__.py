"""Evaluations through the providers' batch engines: half the price, answers within a window."""
