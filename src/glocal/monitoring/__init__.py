"""Monitoring layer: live error against actuals, demotions, drift and data checks.

Examples:
    >>> from glocal.monitoring import run_monitor
    >>> run_monitor.__name__
    'run_monitor'

"""

from __future__ import annotations

from glocal.monitoring.backtest import BacktestResult, backtest_dates, run_backtest
from glocal.monitoring.checks import Alert
from glocal.monitoring.monitor import MonitorResult, monitor_directory, run_monitor

__all__ = [
    "Alert",
    "BacktestResult",
    "MonitorResult",
    "backtest_dates",
    "monitor_directory",
    "run_backtest",
    "run_monitor",
]
