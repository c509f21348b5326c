"""Load tests and the synthetic media participants they (and the test suite) use."""
