"""One module per family; each turns its arguments into a spec and builds it."""
