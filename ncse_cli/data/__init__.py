"""Data: manifests, corpus preparation, mixing, augmentation and datasets."""
