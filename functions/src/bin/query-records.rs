//! `GET /api/v1/marketing/records?platform=&campaign_id=&start=&end=&limit=&cursor=`: causal
//! records by platform, campaign and dates, a page at a time. Needs `causal:data:read`.

liftos::http_function!(liftos::runtime::handlers::query_records_http);
