"""Failures, linear heads and the debugging strategies: individual, collective, sweeps."""
