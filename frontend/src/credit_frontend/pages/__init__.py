"""The dashboard's pages: each module has a ``render()`` that draws the page from the gateway's answers."""
