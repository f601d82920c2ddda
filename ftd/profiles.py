"""The name of the provider profile that ``[provider]`` configures.

Kept apart so that the store and the control client can name it without
importing the configuration's models.
"""

DEFAULT_PROFILE = "default"
