"""Generated pages: results, methods, privacy and configuration, each from real runs or from the code."""
