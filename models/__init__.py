"""The publishability classifier: train, evaluate, register, load safely, score and explain."""
