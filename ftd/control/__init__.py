"""The control socket: protocol, server, access rules and the blocking client."""
