"""Server-rendered pages: the portal, public pages, account pages and the staff desk."""
