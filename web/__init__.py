"""The web role: the public site and (later) the dashboard, on Starlette and Jinja2."""
