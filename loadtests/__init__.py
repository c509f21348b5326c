"""Load tests (Locust users playing EVR visits over the real media path, load shapes, a
capacity report) and the synthetic media participants they and the test suite use.
See loadtests/README.md."""
