"""Dataset validation, token counting, cost estimates and splitting (pure, synchronous)."""
