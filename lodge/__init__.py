"""The `lodge` command: run services, the gateway, migrations and demo data."""

import warnings

# nameko runs on eventlet, which warns on import that it is in maintenance mode
warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated", category=Warning)
