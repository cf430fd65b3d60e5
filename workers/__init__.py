"""One module per process, each binding the domain (ohmpi) to the bus."""
