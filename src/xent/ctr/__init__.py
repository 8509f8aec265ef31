"""Click-through-rate prediction: synthetic click logs, readers, features, metrics."""
