"""Write tests/fixtures/snapchat_export.parquet: a Snapchat Ads campaign export as analysts'
tools write Parquet (pandas 3.1 + pyarrow 22, snappy): `day` as a Parquet DATE, the campaign id
as text, spend in micros (int64), counts as int64, conversions and value as double. Two
campaigns x 30 days. The ingestion test drops it and maps it with money_scale 1e-6.

    ~/.cache/liftos/bench-venv/bin/python tests/reference/scripts/snapchat_parquet.py
"""
import datetime
import math
import pathlib
import random

import pandas as pd

root = pathlib.Path(__file__).resolve().parents[3]
rng = random.Random(11)
rows = []
for cid, base in [("sc-1001", 180.0), ("sc-1002", 95.0)]:
    for d in range(30):
        spend = base * math.exp(0.1 * rng.gauss(0, 1))
        rows.append({
            "day": datetime.date(2026, 9, 1) + datetime.timedelta(days=d),
            "campaign_id": cid,
            "spend_micro": int(round(spend * 1_000_000)),
            "impressions": int(spend / 0.004),
            "swipes": int(spend / 0.004 * 0.008),
            "conversion_purchases": round(spend / 30.0, 2),
            "conversion_purchases_value": round(spend / 30.0 * 55.0, 2),
        })
df = pd.DataFrame(rows)
df.to_parquet(root / "tests" / "fixtures" / "snapchat_export.parquet", engine="pyarrow", compression="snappy", index=False)
print(len(df), "rows")
