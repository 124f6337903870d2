"""The course's four clinical tasks: loaders for the real datasets and the course's own data."""
