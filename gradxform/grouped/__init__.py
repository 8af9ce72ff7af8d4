"""Speed machinery: flat buffers instead of many leaves, the leaf-wise check, one pass over memory."""
