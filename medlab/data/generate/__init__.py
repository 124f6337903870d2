"""The course's own rows, in the real datasets' schemas, written from `medlab.data.tables`."""
