"""Benchmark: the DuckDB panel builder against a straightforward pandas loop over cutoffs.

Builds a panel with a cutoff every 3 days from 2011-03-01 over the UCI Online Retail data,
once with ``glocal.features.build_panel`` and once with the loop below (spend and distinct
invoices over 7/30/90/180 days, returns over 90 days, recency, tenure, distinct products
over 90 days, 30-day target), each in its own child process so that each peak RSS is its
own. Prints both times, the speed-up, peak memory, and the largest difference between the
two on the features they share.

Usage (from the repository root):
    .venv/bin/python benchmarks/bench_panel.py [--data PATH] [--every DAYS] [--first DATE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "online_retail.parquet"
WINDOWS = [7, 30, 90, 180]
DETAIL = 90
HORIZON = 30
SHARED = [
    "target",
    "recency_days",
    "tenure_days",
    *[f"{kind}_{w}d" for w in WINDOWS for kind in ("frequency", "monetary")],
    f"returns_count_{DETAIL}d",
    f"returns_value_{DETAIL}d",
    f"distinct_products_{DETAIL}d",
]


def pandas_loop(tx: pd.DataFrame, cutoffs: list[pd.Timestamp]) -> pd.DataFrame:
    """The straightforward way: filter the history at every cutoff and group by customer."""
    tx = tx.assign(day=tx["timestamp"].dt.normalize())
    purchases_all = tx[~tx["is_cancellation"]]
    first_purchase = purchases_all.groupby("entity_id")["day"].min()
    end = tx["day"].max() + pd.Timedelta(days=1)
    frames = []
    for cutoff in cutoffs:
        history = tx[tx["day"] < cutoff]
        purchases = history[~history["is_cancellation"]]
        entities = first_purchase[first_purchase < cutoff]
        out = pd.DataFrame(index=entities.index)
        out["recency_days"] = (cutoff - purchases.groupby("entity_id")["day"].max()).dt.days
        out["tenure_days"] = (cutoff - entities).dt.days
        for window in WINDOWS:
            start = cutoff - pd.Timedelta(days=window)
            recent = history[history["day"] >= start]
            recent_purchases = purchases[purchases["day"] >= start]
            out[f"frequency_{window}d"] = recent_purchases.groupby("entity_id")["invoice"].nunique()
            out[f"monetary_{window}d"] = recent.groupby("entity_id")["amount"].sum()
        recent = history[history["day"] >= cutoff - pd.Timedelta(days=DETAIL)]
        returns = recent[recent["is_cancellation"]]
        out[f"returns_count_{DETAIL}d"] = returns.groupby("entity_id")["invoice"].nunique()
        out[f"returns_value_{DETAIL}d"] = -returns.groupby("entity_id")["amount"].sum()
        bought = recent[~recent["is_cancellation"]]
        out[f"distinct_products_{DETAIL}d"] = bought.groupby("entity_id")["stock_code"].nunique()
        out = out.fillna(0.0)
        if cutoff + pd.Timedelta(days=HORIZON) <= end:
            future = tx[(tx["day"] >= cutoff) & (tx["day"] < cutoff + pd.Timedelta(days=HORIZON))]
            out["target"] = (
                future.groupby("entity_id")["amount"].sum().reindex(out.index, fill_value=0.0)
            )
        else:
            out["target"] = np.nan
        out["cutoff"] = cutoff
        frames.append(out.rename_axis("entity_id").reset_index())
    panel = pd.concat(frames, ignore_index=True)
    return panel.sort_values(["entity_id", "cutoff"], ignore_index=True)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _run(approach: str, clean_path: str, first: str, every: int) -> dict[str, Any]:
    """Child process: load the cleaned data, build one panel, report time, size and memory."""
    from glocal.config.features import FeatureSettings
    from glocal.features import build_panel

    tx = pd.read_parquet(clean_path)
    loaded_rss = _peak_rss_mib()
    first_day = dt.date.fromisoformat(first)
    settings = FeatureSettings(
        cutoff_every_days=every,
        cutoff_anchor=first_day,
        first_cutoff=first_day,
        horizon_days=HORIZON,
        windows_days=WINDOWS,
        detail_window_days=DETAIL,
    )
    end = tx["timestamp"].max().normalize() + pd.Timedelta(days=1)
    cutoffs = list(pd.date_range(first_day, end, freq=f"{every}D"))
    start = time.perf_counter()
    panel = build_panel(tx, settings) if approach == "glocal" else pandas_loop(tx, cutoffs)
    seconds = time.perf_counter() - start
    panel["entity_id"] = panel["entity_id"].astype(str)
    panel["cutoff"] = panel["cutoff"].astype("datetime64[us]")
    return {
        "seconds": seconds,
        "rows": len(panel),
        "entities": int(panel["entity_id"].nunique()),
        "cutoffs": int(panel["cutoff"].nunique()),
        "features": len(panel.columns) - 3,
        "loaded_rss": loaded_rss,
        "peak_rss": _peak_rss_mib(),
        "shared": panel[["entity_id", "cutoff", *SHARED]],
    }


def main() -> None:
    """Parse arguments, clean the data once, run both approaches and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="UCI Online Retail file")
    parser.add_argument("--every", type=int, default=3, help="days between cutoffs")
    parser.add_argument("--first", default="2011-03-01", help="first cutoff (ISO date)")
    parser.add_argument("--quick", action="store_true", help="weekly cutoffs from 2011-10-01")
    args = parser.parse_args()
    if args.quick:
        args.every, args.first = 7, "2011-10-03"

    from glocal.config import Settings
    from glocal.data import clean_transactions, read_transactions

    settings = Settings()
    clean, _ = clean_transactions(read_transactions(args.data, settings.columns), settings.cleaning)
    customers = clean["entity_id"].nunique()
    print(f"data: {args.data} -> {len(clean):,} cleaned rows, {customers:,} customers")
    print(f"panel: a cutoff every {args.every} days from {args.first}, horizon {HORIZON} days")
    with tempfile.TemporaryDirectory() as tmp:
        clean_path = str(Path(tmp) / "clean.parquet")
        clean.to_parquet(clean_path, index=False)
        context = multiprocessing.get_context("spawn")
        results = {}
        for approach in ("glocal", "pandas-loop"):
            with context.Pool(1) as pool:
                results[approach] = pool.apply(_run, (approach, clean_path, args.first, args.every))
    for approach, result in results.items():
        print(
            f"{approach:>12}: {result['seconds']:7.2f} s  {result['rows']:,} rows, "
            f"{result['entities']:,} entities, {result['cutoffs']} cutoffs, "
            f"{result['features']} features; peak RSS {result['peak_rss']:,.0f} MiB "
            f"({result['peak_rss'] - result['loaded_rss']:+,.0f} MiB over the loaded data)"
        )
    fast, slow = results["glocal"], results["pandas-loop"]
    print(
        f"     speed-up: {slow['seconds'] / fast['seconds']:.1f}x "
        "(glocal build_panel vs pandas loop)"
    )
    merged = fast["shared"].merge(
        slow["shared"], on=["entity_id", "cutoff"], suffixes=("", "_loop")
    )
    worst = max(
        float(np.nanmax(np.abs(merged[c].to_numpy() - merged[f"{c}_loop"].to_numpy()), initial=0.0))
        for c in SHARED
    )
    print(
        f"  same rows in both: {len(merged):,}; largest difference on the {len(SHARED)} "
        f"shared columns: {worst:.3g}"
    )


if __name__ == "__main__":
    main()
