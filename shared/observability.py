"""The one place that creates Powertools' Logger and Metrics.

The service name comes from ``POWERTOOLS_SERVICE_NAME`` set in the SAM template's
Globals. INFO logs at most one line per message handled (log lines are billed).
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

logger = Logger()
metrics = Metrics(namespace="ChargingCloud")
