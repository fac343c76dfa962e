"""Vetting of suggestions before display: the analyzer contract, built-in analyzers and the
pipeline that runs them."""
