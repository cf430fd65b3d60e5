"""The message bus: envelopes, topics, sockets, RPC and the hub. Transport only.

Nothing here knows about resistivity; see docs/protocol.md for the wire contract.
"""
