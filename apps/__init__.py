"""Served models: one module per model (labels, network, weights, settings) and one explicit registry."""
