"""Settings of the data layer: column mapping and cleaning rules."""

from __future__ import annotations

from pydantic import Field

from glocal.config.base import Section

__all__ = ["CleaningSettings", "ColumnsSettings"]


class ColumnsSettings(Section):
    """Names of the source columns in a transaction file.

    Leave a key empty to recognise the Online Retail (``InvoiceNo``, ``UnitPrice``,
    ``CustomerID``) and Online Retail II (``Invoice``, ``Price``, ``Customer ID``) names.
    """

    invoice: str | None = Field(default=None, description="Invoice number column.")
    stock_code: str | None = Field(default=None, description="Product code column.")
    description: str | None = Field(default=None, description="Product description column.")
    quantity: str | None = Field(default=None, description="Quantity column.")
    invoice_date: str | None = Field(default=None, description="Timestamp column.")
    unit_price: str | None = Field(default=None, description="Unit price column.")
    entity: str | None = Field(default=None, description="Entity (customer) id column.")
    country: str | None = Field(default=None, description="Country column.")


class CleaningSettings(Section):
    """Cleaning rules applied by ``glocal ingest`` before anything is modelled."""

    non_product_codes: list[str] = Field(
        default_factory=lambda: [
            "POST",
            "DOT",
            "M",
            "m",
            "C2",
            "D",
            "S",
            "B",
            "BANK CHARGES",
            "AMAZONFEE",
            "CRUK",
            "PADS",
        ],
        description="Stock codes that are fees, postage or adjustments, not products.",
    )
    drop_duplicates: bool = Field(default=True, description="Drop exact duplicate rows.")
    extreme_quantity: int = Field(
        default=10_000,
        gt=0,
        description=(
            "An order of at least this many units that is cancelled in full by the same "
            "customer is dropped together with its cancellation."
        ),
    )
