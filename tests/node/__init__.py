"""Tests of the node store (node/)."""
