"""``python -m services {erp|payment|inventory|flight|hotel|car} ...`` — see :mod:`services.cli`."""

from services.cli import main

main()
