"""The cleaning report: how many rows each cleaning rule removed or flagged."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["CleaningReport", "RuleOutcome"]


class RuleOutcome(BaseModel):
    """What one cleaning rule did.

    Attributes:
        rule: the rule's name, e.g. ``"missing_entity"``.
        action: ``"removed"`` (rows dropped) or ``"flagged"`` (rows kept and marked).
        rows: how many rows the rule removed or flagged, counted on what earlier rules left.
        description: one sentence saying what the rule does.

    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    action: Literal["removed", "flagged"]
    rows: int
    description: str


class CleaningReport(BaseModel):
    """Rows in, rows out, and one :class:`RuleOutcome` per rule in the order applied.

    Examples:
        >>> report = CleaningReport(rows_in=10, rows_out=8, outcomes=[
        ...     RuleOutcome(rule="duplicate", action="removed", rows=2, description="..."),
        ... ])
        >>> report.count("duplicate"), report.rows_removed
        (2, 2)

    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    rows_in: int
    rows_out: int
    outcomes: list[RuleOutcome]

    @property
    def rows_removed(self) -> int:
        """Rows dropped by all rules together."""
        return self.rows_in - self.rows_out

    def count(self, rule: str) -> int:
        """Return the rows removed or flagged by ``rule``.

        Raises:
            KeyError: no rule of that name ran.

        """
        for outcome in self.outcomes:
            if outcome.rule == rule:
                return outcome.rows
        known = ", ".join(outcome.rule for outcome in self.outcomes)
        raise KeyError(f"no cleaning rule {rule!r}; the report has {known}")
