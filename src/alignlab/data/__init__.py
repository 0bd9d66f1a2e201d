"""Data: the built-in corpus, dataset loading, SFT tokenisation and masking, batching."""
