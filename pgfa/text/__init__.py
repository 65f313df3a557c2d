"""Class texts and their sentence embeddings: class files, frozen encoders, the on-disk cache."""
