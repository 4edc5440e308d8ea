"""`python -m workers`: one worker process, configured from the environment (see cadenza.settings)."""

from cadenza.process_exit import run_and_exit
from workers.worker import main

run_and_exit(main)
