"""Feature engineering shared by ingestion (batch) and scoring (online): one implementation, so they cannot drift.

- :func:`application_features`: from the application row alone, element-wise (one row gives the values it gets
  in a batch); scoring calls it per request batch.
- :func:`~credit_shared.features.history.history_features`: the side-table aggregates per client (DuckDB over CSV
  or Parquet, bounded memory); ingestion stores them as the online features scoring joins by ``SK_ID_CURR``.
- :func:`~credit_shared.features.build.build_features`: both for a batch of applications, in one float matrix.

The package itself exports only what serving needs (no DuckDB): the batch builders are imported from their modules.

The families are those of the "LightGBM with simple features" kernel (see :mod:`credit_shared.features.spec`).
Choices, all mirrored by the pandas oracle in ``tests/oracle``:

- application categories stay categorical (the model pipeline encodes them); side-table categories are one-hot
  encoded with the schema's levels plus a missing-value dummy before aggregating (mean = share);
- ``365243`` (not applicable) becomes missing in ``DAYS_EMPLOYED`` and the previous-application ``DAYS_`` columns;
- a ratio with a zero denominator is missing, not infinite;
- a sum over a client's rows that are all missing is 0 (as pandas), a client without rows gets NaN everywhere;
- an instalment without a payment date has unknown (missing) days past due / before due;
- names keep only ``[0-9A-Za-z_]``; columns are always :data:`FEATURE_COLUMNS`, in that order.
"""

from typing import Final

from credit_shared.features.application import APPLICATION_COLUMNS, application_features, application_parts
from credit_shared.features.spec import HISTORY_COLUMNS

FEATURE_COLUMNS: Final[tuple[str, ...]] = (*APPLICATION_COLUMNS, *HISTORY_COLUMNS)

__all__ = [
    "APPLICATION_COLUMNS",
    "FEATURE_COLUMNS",
    "HISTORY_COLUMNS",
    "application_features",
    "application_parts",
]
