"""Item types and loaders of the real datasets' schemas: the course reads its own files through them too."""
