"""The integration half of akarom: checking devices with the adapters, politely."""

from akarom.services.checks import Checker, DeviceReport, RetryPolicy

__all__ = ["Checker", "DeviceReport", "RetryPolicy"]
