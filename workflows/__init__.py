"""The order-fulfilment workflow, its saga helper, its data contract and its per-step activity options."""
