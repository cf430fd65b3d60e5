def pytest_configure(config):
    config.addinivalue_line("markers", "interop: loads our exports with pyGIMLi and ResIPy (skipped without them)")
