"""The web gateway: a Flask app that reaches the instrument only through the bus."""
