"""Training, conversion, evaluation and promotion of Codeward models."""
