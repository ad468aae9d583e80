"""The CLI's side of the HTTP API: a small httpx client, the subcommands, tables and a
progress bar."""
