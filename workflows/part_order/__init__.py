"""Part order workflow (``po:<site>:<sku>:<n>``) and its supplier / stock activities."""
