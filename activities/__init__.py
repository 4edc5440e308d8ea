"""Activities: each one HTTP step or compensation against a downstream API, with errors classified for Temporal."""
