"""Regenerate the bundled sample data (deterministic): python3 generate.py

Three platforms x three campaigns x 42 days (2026-09-01..2026-10-12). On 2026-09-29 the
Meta prospecting campaign's budget rises 30% (experiment `exp-meta-budget-q3`, with the
Meta retargeting and brand campaigns as controls); conversions respond with a true lift of
about 12 per day on top of the spend-driven baseline. Weekends and a promotion week are
recorded as confounders.
"""
import datetime as dt
import json
import random

random.seed(20260901)
START = dt.date(2026, 9, 1)
DAYS = 42
T0 = dt.date(2026, 9, 29)
CAMPAIGNS = {
    "meta": [("cmp-meta-prospecting", 900.0), ("cmp-meta-retargeting", 450.0), ("cmp-meta-brand", 300.0)],
    "google_ads": [("cmp-gads-search", 1200.0), ("cmp-gads-shopping", 800.0), ("cmp-gads-pmax", 600.0)],
    "tiktok": [("cmp-tt-awareness", 500.0), ("cmp-tt-spark", 350.0), ("cmp-tt-retarget", 200.0)],
}
EXPERIMENT = "exp-meta-budget-q3"
TREATED = {"cmp-meta-prospecting"}
CONTROL = {"cmp-meta-retargeting", "cmp-meta-brand"}
PROMO = (dt.date(2026, 10, 5), dt.date(2026, 10, 11))

records = []
for platform, campaigns in CAMPAIGNS.items():
    cpm = {"meta": 9.0, "google_ads": 14.0, "tiktok": 6.5}[platform]
    for campaign, budget in campaigns:
        ctr = random.uniform(0.008, 0.02)
        cvr = random.uniform(0.02, 0.05)
        for d in range(DAYS):
            day = START + dt.timedelta(days=d)
            weekend = day.weekday() >= 5
            promo = PROMO[0] <= day <= PROMO[1]
            post = day >= T0
            spend = budget * (1.3 if campaign in TREATED and post else 1.0)
            spend *= (0.85 if weekend else 1.0) * random.uniform(0.93, 1.07)
            impressions = int(spend / cpm * 1000)
            clicks = int(impressions * ctr * random.uniform(0.9, 1.1))
            conversions = clicks * cvr * (1.25 if promo else 1.0) * (0.9 if weekend else 1.0)
            if campaign in TREATED and post:
                conversions += 12.0
            conversions = round(max(conversions + random.gauss(0, 1.5), 0.0), 2)
            revenue = round(conversions * random.uniform(55, 65), 2)
            rec = {
                "platform": platform,
                "campaign_id": campaign,
                "timestamp": f"{day.isoformat()}T00:00:00Z",
                "metrics": {
                    "spend": round(spend, 2),
                    "impressions": impressions,
                    "clicks": clicks,
                    "conversions": conversions,
                    "revenue": revenue,
                    "extra": {"reach": int(impressions * 0.62)},
                },
                "confounders": [],
                "external_factors": [{"name": "competitor_index", "value": round(random.uniform(0.8, 1.2), 3), "source": "sample"}],
                "quality_score": 1.0,
            }
            if weekend:
                rec["confounders"].append({"name": "weekend", "value": 1.0, "detection_method": "calendar", "confidence": 1.0})
            if promo:
                rec["confounders"].append({"name": "promotion_autumn_sale", "value": 1.0, "detection_method": "user_supplied", "confidence": 0.95})
            if campaign in TREATED or campaign in CONTROL:
                rec["treatment_assignment"] = {
                    "intervention": "budget_increase",
                    "group": "treated" if campaign in TREATED else "control",
                    "assigned_at": f"{T0.isoformat()}T00:00:00Z",
                    "intensity": 0.3 if campaign in TREATED else 0.0,
                    "experiment_id": EXPERIMENT,
                }
            records.append(rec)

with open("causal_records.json", "w") as f:
    json.dump({"records": records}, f, indent=1)
    f.write("\n")

experiment = {
    "id": EXPERIMENT,
    "name": "Meta prospecting budget +30%",
    "description": "Budget raised 30% on the prospecting campaign; retargeting and brand held as controls.",
    "treatment_groups": sorted(TREATED),
    "control_groups": sorted(CONTROL),
    "randomization_unit": "campaign",
    "start": f"{T0.isoformat()}T00:00:00Z",
    "end": f"{(START + dt.timedelta(days=DAYS - 1)).isoformat()}T23:59:59Z",
    "status": "running",
}
with open("experiment.json", "w") as f:
    json.dump(experiment, f, indent=1)
    f.write("\n")
print(len(records), "records")
