"""Image datasets: real-format loaders and the procedural test bed."""
