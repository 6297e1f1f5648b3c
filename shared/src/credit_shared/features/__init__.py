"""Feature engineering shared by ingestion (batch) and scoring (online).

- :func:`application_features`: from the application row alone (computed at request time by scoring);
- :func:`history_features`: the side-table aggregates per client (DuckDB; stored as online features);
- :func:`build_features`: both, joined, for a dataset.
"""

from credit_shared.features.application import APPLICATION_COLUMNS, application_features
from credit_shared.features.build import FEATURE_COLUMNS, build_features
from credit_shared.features.history import history_features
from credit_shared.features.sources import find_tables
from credit_shared.features.spec import HISTORY_COLUMNS

__all__ = [
    "APPLICATION_COLUMNS",
    "FEATURE_COLUMNS",
    "HISTORY_COLUMNS",
    "application_features",
    "build_features",
    "find_tables",
    "history_features",
]
