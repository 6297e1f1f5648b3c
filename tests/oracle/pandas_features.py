"""Plain-pandas reference of the feature engineering: the oracle the DuckDB engine is checked against.

It follows the "LightGBM with simple features" kernel (aguiar) line by line, with the project's documented choices:

- category levels come from the schema (``pd.Categorical`` with fixed categories, ``dummy_na=True``), so the
  dummy columns never depend on the data; dummy names keep only ``[0-9A-Za-z_]`` (LightGBM refuses the rest);
- a ratio with a zero denominator is NaN (the kernel gave inf);
- DPD / DBD of an instalment without a payment date stay NaN (the kernel turned them into 0);
- previous applications also aggregate the five cleaned DAYS_ columns (max, mean);
- the application table keeps its categories as categories (no one-hot), adds CREDIT_TO_GOODS and the
  EXT_SOURCES mean / min / max, and keeps every client (the kernel dropped 4 with CODE_GENDER XNA).

Readable and slow on purpose; used only by tests and the benchmark.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from credit_shared.features.spec import TABLE_LEVELS
from credit_shared.homecredit.application import APPLICATION
from credit_shared.homecredit.schema import Kind

TABLE_FILES = {
    "bureau": ["bureau.csv", "bureau.parquet"],
    "bureau_balance": ["bureau_balance.csv", "bureau_balance.parquet"],
    "previous_application": [
        "previous_application.csv",
        "previous_application.parquet",
        "previous_application_IMPUTED.csv",
    ],
    "POS_CASH_balance": ["POS_CASH_balance.csv", "POS_CASH_balance.parquet"],
    "installments_payments": ["installments_payments.csv", "installments_payments.parquet"],
    "credit_card_balance": ["credit_card_balance.csv", "credit_card_balance.parquet"],
}


def read_table(data_dir: Path, table: str) -> pd.DataFrame:
    for name in TABLE_FILES[table]:
        path = data_dir / name
        if path.is_file():
            return pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path)
    raise FileNotFoundError(f"{table} not in {data_dir}")


def clean_name(text: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_")


def one_hot_encoder(df: pd.DataFrame, table: str) -> tuple[pd.DataFrame, list[str]]:
    """The kernel's one_hot_encoder, with the schema's levels and clean names."""
    original_columns = list(df.columns)
    levels = TABLE_LEVELS[table]
    for col, values in levels.items():
        if col not in df.columns:
            df[col] = np.nan
        df[col] = pd.Categorical(df[col], categories=list(values))
    df = pd.get_dummies(df, columns=list(levels), dummy_na=True, dtype=float)
    new_columns = [c for c in df.columns if c not in original_columns]
    df = df.rename(columns={c: clean_name(c) for c in new_columns})
    return df, [clean_name(c) for c in new_columns]


def ensure_columns(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    for col in columns:
        if col not in df.columns:
            df[col] = np.nan
    return df


def safe_div(a: pd.Series, b: pd.Series) -> pd.Series:
    return a / b.replace(0, np.nan)


def application(df: pd.DataFrame) -> pd.DataFrame:
    columns: dict[str, object] = {"SK_ID_CURR": df["SK_ID_CURR"].astype("int64")}
    for spec in APPLICATION.columns[1:]:
        values = df[spec.name] if spec.name in df.columns else pd.Series(np.nan, index=df.index)
        if spec.kind is Kind.CATEGORY:
            columns[spec.name] = pd.Categorical(values, categories=list(spec.categories))
        else:
            columns[spec.name] = values.astype("float64")
    out = pd.DataFrame(columns, index=df.index)
    out["DAYS_EMPLOYED"] = out["DAYS_EMPLOYED"].replace(365243, np.nan)
    out["DAYS_EMPLOYED_PERC"] = safe_div(out["DAYS_EMPLOYED"], out["DAYS_BIRTH"])
    out["INCOME_CREDIT_PERC"] = safe_div(out["AMT_INCOME_TOTAL"], out["AMT_CREDIT"])
    out["INCOME_PER_PERSON"] = safe_div(out["AMT_INCOME_TOTAL"], out["CNT_FAM_MEMBERS"])
    out["ANNUITY_INCOME_PERC"] = safe_div(out["AMT_ANNUITY"], out["AMT_INCOME_TOTAL"])
    out["PAYMENT_RATE"] = safe_div(out["AMT_ANNUITY"], out["AMT_CREDIT"])
    out["CREDIT_TO_GOODS"] = safe_div(out["AMT_CREDIT"], out["AMT_GOODS_PRICE"])
    ext = out[["EXT_SOURCE_1", "EXT_SOURCE_2", "EXT_SOURCE_3"]]
    out["EXT_SOURCES_MEAN"] = ext.mean(axis=1)
    out["EXT_SOURCES_MIN"] = ext.min(axis=1)
    out["EXT_SOURCES_MAX"] = ext.max(axis=1)
    return out


def flatten(agg: pd.DataFrame, prefix: str) -> pd.DataFrame:
    agg.columns = pd.Index([prefix + e[0] + "_" + e[1].upper() for e in agg.columns.tolist()])
    return agg


def bureau_and_balance(bureau: pd.DataFrame, bb: pd.DataFrame) -> pd.DataFrame:
    bb, bb_cat = one_hot_encoder(bb, "bureau_balance")
    bureau, bureau_cat = one_hot_encoder(bureau, "bureau")

    bb_aggregations: dict[str, list[str]] = {"MONTHS_BALANCE": ["min", "max", "size"]}
    for col in bb_cat:
        bb_aggregations[col] = ["mean"]
    bb_agg = flatten(bb.groupby("SK_ID_BUREAU").agg(bb_aggregations), "")
    bureau = bureau.join(bb_agg, how="left", on="SK_ID_BUREAU")
    bureau = bureau.drop(["SK_ID_BUREAU"], axis=1)

    num_aggregations = {
        "DAYS_CREDIT": ["min", "max", "mean", "var"],
        "DAYS_CREDIT_ENDDATE": ["min", "max", "mean"],
        "DAYS_CREDIT_UPDATE": ["mean"],
        "CREDIT_DAY_OVERDUE": ["max", "mean"],
        "AMT_CREDIT_MAX_OVERDUE": ["mean"],
        "AMT_CREDIT_SUM": ["max", "mean", "sum"],
        "AMT_CREDIT_SUM_DEBT": ["max", "mean", "sum"],
        "AMT_CREDIT_SUM_OVERDUE": ["mean"],
        "AMT_CREDIT_SUM_LIMIT": ["mean", "sum"],
        "AMT_ANNUITY": ["max", "mean"],
        "CNT_CREDIT_PROLONG": ["sum"],
        "MONTHS_BALANCE_MIN": ["min"],
        "MONTHS_BALANCE_MAX": ["max"],
        "MONTHS_BALANCE_SIZE": ["mean", "sum"],
    }
    bureau = ensure_columns(bureau, list(num_aggregations))
    cat_aggregations: dict[str, list[str]] = {}
    for cat in bureau_cat:
        cat_aggregations[cat] = ["mean"]
    for cat in bb_cat:
        cat_aggregations[cat + "_MEAN"] = ["mean"]

    bureau_agg = flatten(bureau.groupby("SK_ID_CURR").agg({**num_aggregations, **cat_aggregations}), "BURO_")
    active = bureau[bureau["CREDIT_ACTIVE_Active"] == 1]
    active_agg = flatten(active.groupby("SK_ID_CURR").agg(num_aggregations), "ACTIVE_")
    bureau_agg = bureau_agg.join(active_agg, how="left", on="SK_ID_CURR")
    closed = bureau[bureau["CREDIT_ACTIVE_Closed"] == 1]
    closed_agg = flatten(closed.groupby("SK_ID_CURR").agg(num_aggregations), "CLOSED_")
    return bureau_agg.join(closed_agg, how="left", on="SK_ID_CURR")


def previous_applications(prev: pd.DataFrame) -> pd.DataFrame:
    prev, cat_cols = one_hot_encoder(prev, "previous_application")
    days = ["DAYS_FIRST_DRAWING", "DAYS_FIRST_DUE", "DAYS_LAST_DUE_1ST_VERSION", "DAYS_LAST_DUE", "DAYS_TERMINATION"]
    prev = ensure_columns(prev, [*days, "RATE_DOWN_PAYMENT", "CNT_PAYMENT", "AMT_DOWN_PAYMENT"])
    for col in days:
        prev[col] = prev[col].replace(365243, np.nan)
    prev["APP_CREDIT_PERC"] = safe_div(prev["AMT_APPLICATION"], prev["AMT_CREDIT"])
    num_aggregations = {
        "AMT_ANNUITY": ["min", "max", "mean"],
        "AMT_APPLICATION": ["min", "max", "mean"],
        "AMT_CREDIT": ["min", "max", "mean"],
        "APP_CREDIT_PERC": ["min", "max", "mean", "var"],
        "AMT_DOWN_PAYMENT": ["min", "max", "mean"],
        "AMT_GOODS_PRICE": ["min", "max", "mean"],
        "HOUR_APPR_PROCESS_START": ["min", "max", "mean"],
        "RATE_DOWN_PAYMENT": ["min", "max", "mean"],
        "DAYS_DECISION": ["min", "max", "mean"],
        "CNT_PAYMENT": ["mean", "sum"],
    }
    for col in days:
        num_aggregations[col] = ["max", "mean"]
    cat_aggregations = {cat: ["mean"] for cat in cat_cols}

    prev_agg = flatten(prev.groupby("SK_ID_CURR").agg({**num_aggregations, **cat_aggregations}), "PREV_")
    approved = prev[prev["NAME_CONTRACT_STATUS_Approved"] == 1]
    approved_agg = flatten(approved.groupby("SK_ID_CURR").agg(num_aggregations), "APPROVED_")
    prev_agg = prev_agg.join(approved_agg, how="left", on="SK_ID_CURR")
    refused = prev[prev["NAME_CONTRACT_STATUS_Refused"] == 1]
    refused_agg = flatten(refused.groupby("SK_ID_CURR").agg(num_aggregations), "REFUSED_")
    return prev_agg.join(refused_agg, how="left", on="SK_ID_CURR")


def pos_cash(pos: pd.DataFrame) -> pd.DataFrame:
    pos, cat_cols = one_hot_encoder(pos, "POS_CASH_balance")
    aggregations = {"MONTHS_BALANCE": ["max", "mean", "size"], "SK_DPD": ["max", "mean"], "SK_DPD_DEF": ["max", "mean"]}
    for cat in cat_cols:
        aggregations[cat] = ["mean"]
    pos_agg = flatten(pos.groupby("SK_ID_CURR").agg(aggregations), "POS_")
    pos_agg["POS_COUNT"] = pos.groupby("SK_ID_CURR").size()
    return pos_agg


def installments_payments(ins: pd.DataFrame) -> pd.DataFrame:
    ins["PAYMENT_PERC"] = safe_div(ins["AMT_PAYMENT"], ins["AMT_INSTALMENT"])
    ins["PAYMENT_DIFF"] = ins["AMT_INSTALMENT"] - ins["AMT_PAYMENT"]
    ins["DPD"] = (ins["DAYS_ENTRY_PAYMENT"] - ins["DAYS_INSTALMENT"]).clip(lower=0)
    ins["DBD"] = (ins["DAYS_INSTALMENT"] - ins["DAYS_ENTRY_PAYMENT"]).clip(lower=0)
    aggregations = {
        "NUM_INSTALMENT_VERSION": ["nunique"],
        "DPD": ["max", "mean", "sum"],
        "DBD": ["max", "mean", "sum"],
        "PAYMENT_PERC": ["max", "mean", "sum", "var"],
        "PAYMENT_DIFF": ["max", "mean", "sum", "var"],
        "AMT_INSTALMENT": ["max", "mean", "sum"],
        "AMT_PAYMENT": ["min", "max", "mean", "sum"],
        "DAYS_ENTRY_PAYMENT": ["max", "mean", "sum"],
    }
    ins_agg = flatten(ins.groupby("SK_ID_CURR").agg(aggregations), "INSTAL_")
    ins_agg["INSTAL_COUNT"] = ins.groupby("SK_ID_CURR").size()
    return ins_agg


def credit_card_balance(cc: pd.DataFrame) -> pd.DataFrame:
    cc, _ = one_hot_encoder(cc, "credit_card_balance")
    cc = cc.drop(["SK_ID_PREV"], axis=1)
    cc_agg = flatten(cc.groupby("SK_ID_CURR").agg(["min", "max", "mean", "sum", "var"]), "CC_")
    cc_agg["CC_COUNT"] = cc.groupby("SK_ID_CURR").size()
    return cc_agg


def history(data_dir: Path) -> pd.DataFrame:
    """Every history aggregate, one row per client with any side row, indexed by SK_ID_CURR."""
    parts = [
        bureau_and_balance(read_table(data_dir, "bureau"), read_table(data_dir, "bureau_balance")),
        previous_applications(read_table(data_dir, "previous_application")),
        pos_cash(read_table(data_dir, "POS_CASH_balance")),
        installments_payments(read_table(data_dir, "installments_payments")),
        credit_card_balance(read_table(data_dir, "credit_card_balance")),
    ]
    out = parts[0]
    for part in parts[1:]:
        out = out.join(part, how="outer")
    return out.astype("float64")


def build_features(app_df: pd.DataFrame, data_dir: Path) -> pd.DataFrame:
    """Application features joined with the history aggregates (NaN for a client without history)."""
    app = application(app_df)
    hist = history(data_dir)
    return app.join(hist, on="SK_ID_CURR", how="left")
