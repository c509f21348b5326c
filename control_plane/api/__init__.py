"""HTTP handlers, grouped by who calls them."""
