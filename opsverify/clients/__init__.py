"""One module per external system; all stand on clients.http."""
