"""Configuration: settings models, the loader and its layers, live changes and the override file."""
