"""Local stand-ins for the providers the channels talk to, plus helpers that
build inbound requests exactly as the providers sign and shape them.

Every stand-in listens on 127.0.0.1 on an ephemeral port, is an async context
manager, records what it received, and can be told to fail.
"""
