"""Telling people what happened: messages, their rendering, and the senders per destination kind."""
