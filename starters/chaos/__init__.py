"""`cadenza chaos`: a load run under injected faults on a stack of its own, with disruptions aimed at the saga's
weak spots, then the audit. Durable execution's promise, shown rather than claimed: every order closes, nobody is
charged twice, and the services' records agree with every outcome.

The disruptions, each printed as it happens and counted in the :class:`ChaosReport`:

* random faults from `--faults`, slow commits included (a request applied seconds after its caller gave up);
* an outage of one service longer than a step retries (STEP_RETRY_BUDGET) (`outage.py`), so orders compensate while it
  lasts;
* cancels, twice each, of orders that are compensating or waiting for an operator (`cancels.py`);
* worker SIGKILLs on a schedule and once as soon as orders are compensating, and one dev-server restart timed
  during compensation (`monkey.py`, told by `watch.py` which orders are compensating).

The rest of the product, each actor sized by the plan and counted in the report's `actors`:

* large orders, risk-checked, and orders the risk rules refer to manual review (`mix.py`), decided by a reviewer
  through `review_order` or left to expire on a short deadline (`reviewer.py`);
* clients reading orders from their first workflow task on: status every few ms, event streams (`clients.py`);
* an operator resetting finished orders to a random completed workflow task, each reset run awaited (`resets.py`);
* orders whose workflow task keeps failing are reported stuck instead of awaited forever (`stuck.py`).
"""

from starters.chaos.plan import DEFAULT_OUTAGE, ChaosPlan, InvalidOutage, InvalidPlan, Outage, parse_outage
from starters.chaos.report import ChaosReport
from starters.chaos.run import chaos_stack_config, run_chaos

__all__ = [
    "DEFAULT_OUTAGE",
    "ChaosPlan",
    "ChaosReport",
    "InvalidOutage",
    "InvalidPlan",
    "Outage",
    "chaos_stack_config",
    "parse_outage",
    "run_chaos",
]
