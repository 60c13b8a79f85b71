"""Write tests/fixtures/promo.parquet: the inline rows of events/analyze-advanced.ok.json as a
Parquet file the way analysts' tools write one (pandas 3.1 + pyarrow 22, snappy, int64 week and
treatment, double sales, string unit). The causal_sources test checks that the panel gives the
same answer as the inline rows.

    ~/.cache/liftos/bench-venv/bin/python tests/reference/scripts/promo_parquet.py
"""
import json
import pathlib

import pandas as pd

root = pathlib.Path(__file__).resolve().parents[3]
event = json.loads((root / "events" / "analyze-advanced.ok.json").read_text())
rows = json.loads(event["body"])["rows"]
df = pd.DataFrame(rows)[["unit", "week", "sales", "d"]]
df["week"] = df["week"].astype("int64")
df["d"] = df["d"].astype("int64")
df["sales"] = df["sales"].astype("float64")
df.to_parquet(root / "tests" / "fixtures" / "promo.parquet", engine="pyarrow", compression="snappy", index=False)
print(len(df), "rows")
