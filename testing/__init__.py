"""Helpers shared by the tests and the benchmarks: real servers, real git repositories."""
