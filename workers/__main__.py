"""`python -m workers`: one worker process, configured from the environment (see cadenza.settings)."""

from cadenza.process_exit import run_and_exit
from cadenza.settings import settings
from workers.worker import main


def _start() -> None:
    settings()  # a bad CADENZA_* value stops the worker here, before it connects to anything
    main()


run_and_exit(_start)
