"""Tests of the load-test package (loadtests/)."""
