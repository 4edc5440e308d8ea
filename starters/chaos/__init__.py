"""`cadenza chaos`: a load run under injected faults on a stack of its own, with disruptions aimed at the saga's
weak spots, then the audit. Durable execution's promise, shown rather than claimed: every order closes, nobody is
charged twice, and the services' records agree with every outcome.

The disruptions, each printed as it happens and counted in the :class:`ChaosReport`:

* random faults from `--faults`, slow commits included (a request applied seconds after its caller gave up);
* an outage of one service longer than a step retries (STEP_RETRY_BUDGET) (`outage.py`), so orders compensate while it lasts;
* cancels, twice each, of orders that are compensating or waiting for an operator (`cancels.py`);
* worker SIGKILLs on a schedule and once as soon as orders are compensating, and one dev-server restart timed
  during compensation (`monkey.py`, told by `watch.py` which orders are compensating).
"""

from starters.chaos.plan import DEFAULT_OUTAGE, ChaosPlan, InvalidOutage, Outage, parse_outage
from starters.chaos.report import ChaosReport
from starters.chaos.run import chaos_stack_config, run_chaos

__all__ = [
    "DEFAULT_OUTAGE", "ChaosPlan", "ChaosReport", "InvalidOutage", "Outage", "chaos_stack_config", "parse_outage",
    "run_chaos",
]
