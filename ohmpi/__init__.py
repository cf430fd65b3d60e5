"""The instrument domain: drivers, the simulated instrument, measurement, sequences, formats.

Nothing here imports zmq, the bus, the workers or the web gateway.
"""
