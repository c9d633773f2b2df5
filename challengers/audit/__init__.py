"""The data audit: integrity, leakage, representativeness, privacy and segments.

``run_audit`` runs every check over a lazy scan and returns an :class:`AuditResult` (findings,
tables, charts); ``challenge audit`` and the start of every ``challenge run`` call it.
"""

from challengers.audit.context import ModelInputs
from challengers.audit.future import FeatureRecipe
from challengers.audit.runner import AUDIT_FILE, AuditResult, run_audit

__all__ = [
    "AUDIT_FILE",
    "AuditResult",
    "FeatureRecipe",
    "ModelInputs",
    "run_audit",
]
