"""ftd demo: the bundled example data and the command that runs it end to end."""
