"""``python -m services {erp|payment|inventory} ...`` — see :mod:`services.cli`."""

from services.cli import main

main()
