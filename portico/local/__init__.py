"""What exists only for the laptop: embedded Postgres and Redis (`embedded_postgres`,
`embedded_redis`, on `embedded_server`, with `binaries`, `ports`, `processes` and `run_as`),
the process supervisor that restarts what dies (`supervisor`), the dev gateway's
scale-to-zero process scaler (`scaler`), dev data and `portico dev` itself (`dev`).

Installed with the `local` extra; a function image never imports it.

May import: the top-level modules, `portico.manifest` and `portico.policies`.
"""
