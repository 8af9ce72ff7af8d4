"""The protocol, the combinators, the step counter, hyperparameters and tree helpers."""
