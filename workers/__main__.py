"""`python -m workers`: one worker process, configured from the environment (see cadenza.settings)."""

from workers.worker import main

main()
