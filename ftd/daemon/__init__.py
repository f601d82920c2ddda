"""The daemon: drop folder to fine-tuning job, with its state in SQLite."""
