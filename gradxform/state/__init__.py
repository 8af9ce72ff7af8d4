"""Tools that read whole optimizer states: checkpoints, memory, hyperparameters and diagnostics."""
