"""Adversarial suites: what an operator clicking Reset or a busy client does to orders, tried at every point."""
