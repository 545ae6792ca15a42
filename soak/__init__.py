"""Soak runner, sampler, gate statistics and report rendering."""
