"""Evaluations through the providers' batch engines: half the price, answers within a window."""

# Batch prices are half the list price at every provider ftd speaks to.
BATCH_PRICE_FACTOR = 0.5
