"""Model loading (Hub, local, GGUF, built-in), LoRA, and the built-in model recipes."""
