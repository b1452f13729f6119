"""``cortex-events demo``: the real operator against a simulated cluster and Cortex emulator.

`run` starts everything and prints the summary, `scenario` applies the sample workloads,
`output` prints what Cortex records, `interrupts` stops it all on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

from cortex_events_sim.demo.run import run_demo

__all__ = ["run_demo"]
