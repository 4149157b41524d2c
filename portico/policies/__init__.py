"""The gateway's policies, as data and rules: consumers and their credentials, JWT checks,
rate-limit windows, the response cache's rules, CORS, and what a gateway tells a function.

One description, two enforcers: `portico.render.kong` renders these into Kong's plugins and
`portico.gateway` applies them on a laptop, so the two gateways cannot drift apart.

May import: the top-level modules and `portico.manifest`. Nothing here opens a server.
"""
