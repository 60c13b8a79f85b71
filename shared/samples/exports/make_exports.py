"""Write the bundled platform exports the main job ingests, from shared/samples/causal_records.json:
the same campaigns and days in each platform's documented API shape.

- meta_insights.json (pages of /act_{id}/insights, level=campaign, time_increment=1: string
  amounts, overlapping purchase action types) and meta_activities.json (the activity log with
  the prospecting budget raised 30% on 2026-09-29, budgets in cents);
- google_ads_report.json and google_ads_changes.json (googleAds:searchStream batches:
  costMicros as strings; change_event rows);
- tiktok_report.json (report/integrated/get pages in the {code, message, data} envelope,
  amounts in EUR: the connection converts at fx_rate 1.08);
- linkedin_campaigns.csv (a LinkedIn Campaign Manager export: US dates, "Total Spent"), with one
  malformed row (the quality stage reports it and the rest lands).

    python3 shared/samples/exports/make_exports.py
"""
import csv, json, math, pathlib, random

here = pathlib.Path(__file__).resolve().parent
recs = json.loads((here.parent / "causal_records.json").read_text())["records"]
by = {}
for r in recs:
    by.setdefault(r["platform"], []).append(r)
for v in by.values():
    v.sort(key=lambda r: (r["campaign_id"], r["timestamp"]))

def day(r):
    return r["timestamp"][:10]

# Meta: pages of 50 rows.
rows = []
for r in by["meta"]:
    m = r["metrics"]
    conv, val = f'{m["conversions"]:.2f}', f'{m["revenue"]:.2f}'
    rows.append({
        "campaign_id": r["campaign_id"], "campaign_name": r["campaign_id"].replace("cmp-meta-", "Meta ").title(),
        "spend": f'{m["spend"]:.2f}', "impressions": str(m["impressions"]), "clicks": str(m["clicks"]),
        "actions": [{"action_type": "link_click", "value": str(m["clicks"])},
                    {"action_type": "omni_purchase", "value": conv}, {"action_type": "purchase", "value": conv}],
        "action_values": [{"action_type": "omni_purchase", "value": val}, {"action_type": "purchase", "value": val}],
        "date_start": day(r), "date_stop": day(r),
    })
pages = [{"data": rows[i:i + 50]} for i in range(0, len(rows), 50)]
(here / "meta_insights.json").write_text(json.dumps(pages, indent=1) + "\n")
pre = [r["metrics"]["spend"] for r in by["meta"] if r["campaign_id"] == "cmp-meta-prospecting" and day(r) < "2026-09-29"]
old = round(sum(pre) / len(pre)) * 100
activities = [{"data": [
    {"event_type": "update_campaign_budget", "event_time": "2026-09-29T13:30:00+0000", "object_id": "cmp-meta-prospecting",
     "object_name": "Meta Prospecting", "object_type": "CAMPAIGN",
     "extra_data": json.dumps({"old_value": old, "new_value": round(old * 1.3), "currency": "USD", "type": "payment_amount"})},
    {"event_type": "update_ad_set_name", "event_time": "2026-09-15T10:00:00+0000", "object_id": "cmp-meta-brand",
     "object_name": "Meta Brand", "object_type": "AD_SET", "extra_data": "{}"},
]}]
(here / "meta_activities.json").write_text(json.dumps(activities, indent=1) + "\n")

# Google Ads: one searchStream batch.
results = []
for r in by["google_ads"]:
    m = r["metrics"]
    results.append({
        "campaign": {"resourceName": f'customers/1234567890/campaigns/{r["campaign_id"]}', "id": r["campaign_id"],
                     "name": r["campaign_id"].replace("cmp-gads-", "Google ").title()},
        "segments": {"date": day(r)},
        "metrics": {"costMicros": str(round(m["spend"] * 1_000_000)), "impressions": str(m["impressions"]),
                    "clicks": str(m["clicks"]), "conversions": m["conversions"], "conversionsValue": m["revenue"]},
    })
fm = "campaign.id,campaign.name,segments.date,metrics.costMicros,metrics.impressions,metrics.clicks,metrics.conversions,metrics.conversionsValue"
(here / "google_ads_report.json").write_text(json.dumps([{"results": results, "fieldMask": fm, "requestId": "sample-1"}], indent=1) + "\n")
(here / "google_ads_changes.json").write_text(json.dumps([{"results": [], "fieldMask": "changeEvent.changeDateTime", "requestId": "sample-2"}], indent=1) + "\n")

# TikTok: pages of 60, amounts in EUR.
FX = 1.08
tl = []
for r in by["tiktok"]:
    m = r["metrics"]
    tl.append({"dimensions": {"campaign_id": r["campaign_id"], "stat_time_day": day(r) + " 00:00:00"},
               "metrics": {"spend": f'{m["spend"] / FX:.4f}', "impressions": str(m["impressions"]), "clicks": str(m["clicks"]),
                           "conversion": f'{m["conversions"]:.2f}', "campaign_name": r["campaign_id"].replace("cmp-tt-", "TikTok ").title(),
                           "total_purchase_value": f'{m["revenue"] / FX:.4f}'}})
n = math.ceil(len(tl) / 60)
tpages = [{"code": 0, "message": "OK", "request_id": f"sample-{i + 1}",
           "data": {"list": tl[i * 60:(i + 1) * 60], "page_info": {"page": i + 1, "page_size": 60, "total_number": len(tl), "total_page": n}}}
          for i in range(n)]
(here / "tiktok_report.json").write_text(json.dumps(tpages, indent=1) + "\n")

# LinkedIn CSV export: two campaigns, 2026-09-01 .. 2026-10-12, one malformed row.
rng = random.Random(7)
with open(here / "linkedin_campaigns.csv", "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["Start Date (in UTC)", "Campaign ID", "Campaign Name", "Total Spent", "Impressions", "Clicks", "Conversions", "Conversion Value"])
    for cid, name, base in [("li-528001", "LinkedIn ABM", 310.0), ("li-528002", "LinkedIn Retarget", 140.0)]:
        for d in range(42):
            m, dd = (9, 1 + d) if d < 30 else (10, d - 29)
            spend = base * math.exp(0.08 * rng.gauss(0, 1))
            impr = round(spend / 0.032)
            clicks = round(impr * 0.006)
            conv = round(spend / 95 * math.exp(0.15 * rng.gauss(0, 1)), 2)
            w.writerow([f"{m}/{dd}/2026", cid, name, f"{spend:,.2f}", impr, clicks, conv, round(conv * 410, 2)])
    w.writerow(["10/13/2026", "li-528001", "LinkedIn ABM", "n/a", 1000, 10, 1, 400])
print("written")
