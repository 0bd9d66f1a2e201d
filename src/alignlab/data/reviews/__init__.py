"""The built-in offline task: a generated movie-review corpus, its tokenizer and its gold reward (VADER)."""
