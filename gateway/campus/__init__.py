"""The door for campus systems: who they are (registered systems), the requests they send
over the broker or HTTP, and what Lodge answers."""
