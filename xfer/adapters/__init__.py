"""Protocol adapters.  Import them through :mod:`xfer.registry`, which loads each lazily."""
