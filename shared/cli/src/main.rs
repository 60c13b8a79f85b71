//! `liftos`: the LiftOS Causal command line, on the embedded default (no AWS, no network).
//!
//! ```text
//! liftos pipeline [--data-dir .liftos] [--org demo] [--out liftos-out]
//! liftos estimate did --input F --unit U --time T --outcome Y --treatment D [--cluster C] [--event-study]
//! liftos estimate did --input F --unit U --time T --outcome Y --cohort G [--control never|not-yet] [--method dr|ipw|reg|sun-abraham|imputation] [--covariates A,B]
//! liftos estimate rdd --input F --outcome Y --running X --cutoff C [--bandwidth H] [--kernel triangular] [--fuzzy D] [--covariates A,B] [--cluster C]
//! liftos estimate geo-readout --input F --market M --time T --outcome Y --treated-markets A,B --start S --duration D [--design-rmse R --design-windows K]
//! liftos estimate impact --input F --time T --outcome Y --controls A,B --treatment-time T0 [--season 7] [--trend]
//! liftos estimate sdid --input F --unit U --time T --outcome Y --treatment D [--se placebo|bootstrap|jackknife] [--replications 200] [--seed S]
//! liftos estimate synth --input F --unit U --time T --outcome Y --treated-unit NAME --treatment-time T0 [--predictors "col:1980-1988,outcome:1975"] [--fit-window 1970-1988] [--placebo]
//! liftos estimate effect --input F --outcome Y --treatment T --covariates A,B [--method regression|ipw|aipw] [--estimand ate|att]
//! liftos discover --input F [--columns A,B,C] [--alpha 0.05] [--method pc] [--tiers "a,b;c"] [--forbid a>b] [--require a>b]
//! liftos estimate iv  --input F --outcome Y --endogenous X --instruments Z1,Z2 [--controls W1,W2] [--se robust|classical|cluster:C]
//! liftos init-aws --table T --bucket B [--audit-table A]
//! liftos token --org ORG --user USER [--role R]... [--permission P]... [--ttl 3600]   
//! ```
//! Every command prints one JSON object on stdout; progress and logs go to stderr. A panel's
//! `--time` column may hold dates: see [`TimeAxis`].

mod progress;
mod serve;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

use liftos::domain::{OrgId, UserContext};
use liftos::service::estimate::{parse_flag, EstimateError};
use liftos::service::time_axis::TimeAxis;
use liftos::storage::Stores;

#[derive(Parser)]
#[command(name = "liftos", version, about = "LiftOS Causal: causal marketing measurement")]
struct Cli {
    /// No progress bar and no log lines below warnings (a bar is shown only on a terminal).
    #[arg(long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Command,
}

/// Where the knowledge engine reads and writes (the options of `liftos pipeline`).
#[derive(clap::Args, Clone)]
struct StoreArgs {
    /// Where the embedded store lives (SQLite file and panels).
    #[arg(long, default_value = ".liftos")]
    data_dir: PathBuf,
    /// The org the local operator works in.
    #[arg(long, default_value = "demo")]
    org: String,
}

#[derive(Subcommand)]
enum KseCmd {
    /// Build (or confirm) the org's graph from its stored records, detected interventions and
    /// confounders; prints the build summary (version, written, nodes, edges, evidence by kind).
    Build {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Answer a question with causal paths (`results[].path[]`, each edge with from, to, method,
    /// estimate, ci_low, ci_high and grade), or say there is no evidence.
    Search {
        /// The question, in a marketer's words ("does meta spend drive revenue?").
        query: String,
        /// At most this many answers.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// The longest path, in edges (1 to 4).
        #[arg(long, default_value_t = 4)]
        max_edges: usize,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// A node's neighbourhood: the nodes within --depth edges and the edges among them.
    Graph {
        /// The node's id (a campaign's `meta/cmp-1`, `kpi:shop_sales`), as the graph and search name it.
        #[arg(long)]
        node: String,
        /// How many edges away the neighbourhood reaches.
        #[arg(long, default_value_t = 1)]
        depth: usize,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// A node's nearest neighbours by its effect, temporal or context profile; a campaign-day's
    /// by its record context vector (`--profile record --date YYYY-MM-DD`).
    Similar {
        /// The node's id, as the graph and search name it.
        #[arg(long)]
        node: String,
        /// effect, temporal, context or record.
        #[arg(long)]
        profile: String,
        /// At most this many neighbours.
        #[arg(long, default_value_t = 5)]
        limit: usize,
        /// With `--profile record`: the campaign's day.
        #[arg(long)]
        date: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Map marketing text onto the ontology: concepts with roles, formulas, methods and checks.
    Map {
        /// The text to map ("ROAS of prospecting campaigns after the budget increase").
        text: String,
    },
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)] // parsed once per process
enum Command {
    /// Run the main job on the embedded store: ingest the bundled sample data (or, with
    /// --connections, your own accounts and exports) and query it back, the budget plan, the
    /// analysis of the detected treatment with its report and explanation.
    Pipeline {
        /// Your connections, in the format of `config/connections.json`: API connections (their
        /// `credentials` read from --credentials, LIFTOS_CREDENTIAL_<ORG>__<NAME> or
        /// LIFTOS_CREDENTIALS_FILE) and file exports with a `column_map` and a `path` (a file, or
        /// a folder of .csv/.tsv/.parquet/.xlsx files; relative to the connections file); without a
        /// `column_map`, the map is recognised from the export's header as `liftos ingest` does.
        #[arg(long)]
        connections: Option<PathBuf>,
        /// A JSON object of credentials, `{"<org>/<name>": "<secret>"}`.
        #[arg(long, requires = "connections")]
        credentials: Option<PathBuf>,
        /// First day fetched from the APIs (default: 90 days before --end).
        #[arg(long, requires = "connections")]
        start: Option<String>,
        /// Last day fetched from the APIs (default: yesterday, UTC).
        #[arg(long, requires = "connections")]
        end: Option<String>,
        /// Your first-party KPI as CSV: a date column (`date`, `Day`, `Week`, `Month`; dates as
        /// exports write them, 2026-11-01, 11/01/2026, Nov 1, 2026) and one KPI column (orders,
        /// revenue, sign-ups; amounts may carry a currency sign and thousands separators); the
        /// budget plan is fitted on it. Without one, no plan is made.
        #[arg(long, requires = "connections")]
        kpi: Option<PathBuf>,
        /// The --kpi file's column to plan on, when it holds several (a shop's export of
        /// orders, gross, net and total sales: "Net sales").
        #[arg(long, requires = "kpi")]
        kpi_column: Option<String>,
        /// Where the embedded store lives (SQLite file and panels). Kept between runs.
        #[arg(long, default_value = ".liftos")]
        data_dir: PathBuf,
        /// The org the local operator works in.
        #[arg(long, default_value = "demo")]
        org: String,
        /// Folder for the written summary.
        #[arg(long, default_value = "liftos-out")]
        out: PathBuf,
    },
    /// Ingest one platform export (CSV, TSV, Parquet or an Excel workbook) into the embedded store through the main job's
    /// transform, quality and store stages; prints the summary (stored, unchanged, batches with
    /// records, quality_score and the rejected rows' line, column and reason).
    Ingest(IngestArgs),
    /// Serve every HTTP route of the API on loopback from one process, on the embedded store,
    /// with the Lambdas' handlers, authentication (LIFTOS_AUTH=local with LIFTOS_JWT_SECRET: the
    /// tokens of `liftos token`; or jwks) and errors. The store is LIFTOS_DATA_DIR or --data-dir.
    Serve {
        /// The loopback port to listen on.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Where the embedded store lives (default: LIFTOS_DATA_DIR, else .liftos).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// The knowledge engine on the embedded store: build the org's causal knowledge graph, search
    /// it with a question, show a node's neighbourhood, map marketing words onto the ontology.
    Kse {
        #[command(subcommand)]
        command: KseCmd,
    },
    /// Estimate a causal effect from a CSV, Parquet or Excel file; prints one JSON object.
    Estimate {
        #[command(subcommand)]
        method: EstimateCmd,
    },
    /// The media mix model on the business's KPI: response curves with carry-over and saturation,
    /// controls (trend, seasonality, your columns), lift tests calibrating it, intervals from
    /// re-fitting everything on block-bootstrap draws, and the budget plan within the spend the
    /// history supports. Prints one JSON object (channels, expected_gain, gain_ci_low/high, fit).
    Mmm {
        /// The data file: CSV (comma-, semicolon- or tab-separated), Parquet (.parquet), or an Excel workbook (.xlsx, .xls, .ods: its first sheet with data).
        #[arg(long)]
        input: PathBuf,
        /// The date column (YYYY-MM-DD; daily, weekly or monthly, a month dated by its first or last day; a missing date is a missing period).
        #[arg(long)]
        date: String,
        /// The KPI column: the business's own orders, revenue or sign-ups.
        #[arg(long)]
        kpi: String,
        /// Comma-separated spend columns, one per channel.
        #[arg(long)]
        spend: String,
        /// Comma-separated control columns (promotions, prices, holiday indicators).
        #[arg(long)]
        controls: Option<String>,
        /// A CSV of lift tests: channel,start,end,spend_from,spend_to,incremental,std_error.
        #[arg(long)]
        lift_tests: Option<PathBuf>,
        /// Spend per period to plan (default: the history's mean total spend per period).
        #[arg(long)]
        budget: Option<f64>,
        /// At most this relative change per channel from its mean spend (0.3 = ±30%).
        #[arg(long, value_parser = share)]
        max_change: Option<f64>,
        /// Periods the plan runs for (horizon: its gain period by period, carry-over included).
        #[arg(long)]
        periods: Option<usize>,
        /// The seed of the random draws (bootstrap, placebo), so that a run can be repeated exactly.
        #[arg(long)]
        seed: Option<u64>,
        /// Bootstrap re-fits of the whole model (default 200, at most 5000).
        #[arg(long)]
        draws: Option<usize>,
        /// Level of the intervals (default 0.9).
        #[arg(long, value_parser = share)]
        level: Option<f64>,
        /// Rolling-origin cross-validation folds (default 4; 0 for none).
        #[arg(long)]
        folds: Option<usize>,
        /// No linear trend.
        #[arg(long)]
        no_trend: bool,
        /// Yearly Fourier harmonics (default 2 when the history spans a year).
        #[arg(long)]
        yearly: Option<usize>,
        /// Weekly Fourier harmonics (default 3 for daily data).
        #[arg(long)]
        weekly: Option<usize>,
        /// The carry-over at the history's first period: running (the channels ran before it, at
        /// its first spend), launch (they started with it: carry-over builds from zero) or auto
        /// (default: launch where it fits clearly better). The answer says which in
        /// fit.history_start.
        #[arg(long)]
        history_start: Option<String>,
        /// The KPI is platform-attributed conversions: allowed, and the answer says the estimate
        /// is not incremental.
        #[arg(long)]
        attributed: bool,
        /// A country code (US, GB, DE, FR, CA, AU; others get the international set): its public
        /// holidays and retail peaks as controls, from the ingestion's calendars.
        #[arg(long)]
        holidays: Option<String>,
        /// Also write the HTML report here: the plan in words, the channels, the response curves
        /// with their intervals, the KPI over time by source, and the fit.
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Design the next test as POST /api/v1/surfacing/experiments/design does: geo market
    /// selection on your markets' history (`geo`), or the sample size, detectable effect or power
    /// of an A/B test (`power`). Prints the endpoint's JSON.
    Design {
        #[command(subcommand)]
        kind: DesignCmd,
    },
    /// Causal discovery (PC-stable with Fisher-z, or DirectLiNGAM); prints the edges.
    Discover {
        /// The data file: CSV (comma-, semicolon- or tab-separated), Parquet (.parquet), or an Excel workbook (.xlsx, .xls, .ods: its first sheet with data).
        #[arg(long)]
        input: PathBuf,
        /// Comma-separated variables (default: every numeric column).
        #[arg(long)]
        columns: Option<String>,
        /// The significance level of the conditional-independence tests (default 0.05).
        #[arg(long, value_parser = share)]
        alpha: Option<f64>,
        /// pc (default; CPDAG) | lingam (DirectLiNGAM: a full causal order under non-Gaussian noise)
        #[arg(long)]
        method: Option<String>,
        /// Temporal tiers, earliest first: "spend,impressions;clicks;conversions".
        #[arg(long)]
        tiers: Option<String>,
        /// Forbidden edges "a>b,c>d".
        #[arg(long)]
        forbid: Option<String>,
        /// Required edges "a>b".
        #[arg(long)]
        require: Option<String>,
        /// PC: the largest conditioning set tried (at most 10).
        #[arg(long)]
        max_depth: Option<usize>,
        /// Tiers from the marketing ontology's funnel for columns named like spend, impressions,
        /// clicks, conversions or revenue (and the names exports use for them).
        #[arg(long)]
        funnel_tiers: bool,
    },
    /// Run an analysis request (the body of POST /api/v1/causal/analyze/advanced, /discover or
    /// /treatment-effect) on a local CSV or Parquet file and write its HTML report with plots.
    /// Prints the result (the API's JSON) with `report.path`.
    Report {
        /// The request body as JSON (its `rows` / `panel` / `records` are replaced by --input).
        #[arg(long)]
        request: PathBuf,
        /// The data: .csv or .parquet.
        #[arg(long)]
        input: PathBuf,
        /// analyze-advanced (default) | discover | treatment-effect
        #[arg(long, default_value = "analyze-advanced")]
        kind: String,
        /// Where to write the HTML report.
        #[arg(long, default_value = "liftos-out/report.html")]
        out: PathBuf,
    },
    /// Explain an analysis as POST /api/v1/llm/causal/insights does: run the request (the body
    /// of analyze/advanced, discover or treatment-effect, or an insights body whose
    /// analysis.request is one) on a local file at the level asked for, and print the fact sheet,
    /// the narrative, the evidence grade and the grounding validator's verdict; or explain a saved
    /// answer (--kind budget, design or readout).
    Explain {
        /// A JSON file: the analysis request, an insights body, or a saved answer (--kind).
        #[arg(long)]
        request: PathBuf,
        /// The data: .csv or .parquet (not with --kind budget, design or readout, whose answer is
        /// the request).
        #[arg(long)]
        input: Option<PathBuf>,
        /// The confidence level of every interval stated (default 0.95, or the body's; for a saved
        /// answer, its own).
        #[arg(long, value_parser = share)]
        level: Option<f64>,
        /// executive (3-5 sentences, default) | analyst
        #[arg(long)]
        audience: Option<String>,
        /// analyze-advanced (default) | discover | treatment-effect | budget (the request is the
        /// media mix model's answer, as `liftos mmm` prints it, or an insights body whose
        /// analysis.budget_result holds it) | design (the request is a design's answer, as
        /// `liftos design geo|power|randomize` prints it, or an insights body whose
        /// analysis.design_result holds it; explained at the design's own level) | readout (the
        /// request is a geo test's readout, as `liftos estimate geo-readout` prints it, or an
        /// insights body whose analysis.readout_result holds it)
        #[arg(long, default_value = "analyze-advanced")]
        kind: String,
        /// What to call the outcome (default: the request's outcome column; for a budget, "the KPI").
        #[arg(long)]
        outcome: Option<String>,
    },
    /// Counterfactuals as POST /api/v1/llm/causal/counterfactual computes them: the body's
    /// analysis.request (an analyze/advanced body) run on the local file for observed-vs-
    /// counterfactual paths, and its budget (an inline history and plan) for spend what-ifs.
    /// Prints the endpoint's JSON: scenarios[] with series, summary and reconciliation.
    Counterfactual {
        /// A JSON file: the body of POST /api/v1/llm/causal/counterfactual.
        #[arg(long)]
        request: PathBuf,
        /// The data of analysis.request: .csv or .parquet (not needed for a budget alone).
        #[arg(long)]
        input: Option<PathBuf>,
        /// The confidence level of every interval (default 0.95, or the body's).
        #[arg(long, value_parser = share)]
        level: Option<f64>,
    },
    /// Print the API's OpenAPI document (what infra/openapi.json holds), generated from the types.
    Openapi,
    /// Create the DynamoDB table (with its GSIs) and the S3 bucket on the configured AWS endpoint
    /// (AWS_ENDPOINT_URL: moto, LocalStack) for running the functions against it.
    InitAws {
        /// The DynamoDB table's name (LIFTOS_TABLE).
        #[arg(long)]
        table: String,
        /// The S3 bucket's name (LIFTOS_BUCKET).
        #[arg(long)]
        bucket: String,
        /// The audit log's own table (LIFTOS_AUDIT_TABLE), when it is kept apart.
        #[arg(long)]
        audit_table: Option<String>,
    },
    /// Mint a local HS256 token with LIFTOS_JWT_SECRET (for curl against `cargo lambda watch`).
    Token {
        /// The org the token is for (its org_id claim).
        #[arg(long)]
        org: String,
        /// The user the token is for (its sub claim).
        #[arg(long)]
        user: String,
        /// A role, repeatable: causal_admin (every permission) or causal_analyst (read data and run analyses).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// A permission beyond the roles', repeatable (causal:data:read, causal:analysis:run, ...).
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// Seconds until the token expires.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
    },
}
/// A share, level or rate as a flag takes it: `0.05`, or as a person writes it, `5%` (its
/// hundredth, rounded once: `3%` is the double nearest 0.03, as `0.03` is).
fn share(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let parsed = match t.strip_suffix('%') {
        Some(p) if !p.trim().is_empty() && p.trim().parse::<f64>().is_ok() => format!("{}e-2", p.trim()).parse::<f64>(),
        Some(_) => return Err(format!("{s:?} is not a percentage (5% or 0.05)")),
        None => t.parse::<f64>(),
    };
    parsed.map_err(|_| format!("{s:?} is not a number (0.05, or 5%)"))
}

/// A comma-separated list of numbers for the flag `field`.
fn numbers(field: &str, v: &str) -> Result<Vec<f64>, EstimateError> {
    list(v)
        .iter()
        .map(|x| x.parse::<f64>().map_err(|_| EstimateError::new(field, format!("{field}: {x:?} is not a number"))))
        .collect()
}

fn list(s: &str) -> Vec<String> {
    s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect()
}

#[derive(Subcommand)]
enum EstimateCmd {
    /// Difference-in-differences: TWFE / event study with --treatment, Callaway-Sant'Anna with --cohort.
    Did {
        #[command(flatten)]
        panel: UnitPanel,
        /// 0/1 treated-and-post indicator (TWFE, event study).
        #[arg(long)]
        treatment: Option<String>,
        /// First treated period per unit (or date, when the time column holds dates); 0 or empty
        /// for never treated (with dates NA or never too) (staggered).
        #[arg(long)]
        cohort: Option<String>,
        /// Cluster column (default: the unit).
        #[arg(long)]
        cluster: Option<String>,
        /// An event study: one coefficient per period before and after the treatment (the leads test parallel trends), the joint pre-trend test and the average effect after it.
        #[arg(long)]
        event_study: bool,
        /// never | not-yet
        #[arg(long)]
        control: Option<String>,
        /// With --cohort: dr | ipw | reg (Callaway-Sant'Anna), or sun-abraham | imputation
        /// (heterogeneity-robust event studies: event_study, and the ATT as the estimate).
        #[arg(long)]
        method: Option<String>,
        /// Comma-separated covariates (staggered).
        #[arg(long)]
        covariates: Option<String>,
        /// cluster:COLUMN (default: by the unit) | robust | classical | wild (cluster-robust errors
        /// plus the wild cluster restricted bootstrap: wild_bootstrap_p_value, _ci_low, _ci_high)
        /// | cr2 (CR2 cluster-robust std_error with Bell-McCaffrey df)
        #[arg(long)]
        se: Option<String>,
        /// Multiplier-bootstrap draws (staggered), or the wild bootstrap's (default 9999).
        #[arg(long)]
        bootstrap: Option<usize>,
        /// The seed of the random draws (bootstrap, placebo), so that a run can be repeated exactly.
        #[arg(long)]
        seed: Option<u64>,
        /// The wild bootstrap's weights: rademacher (default) | webb.
        #[arg(long)]
        weights: Option<String>,
        /// With --event-study: HonestDiD's relative-magnitude bounds (honest.relative_magnitudes,
        /// honest.breakdown_mbar) and smoothness bounds (honest.smoothness, honest.breakdown_m).
        #[arg(long)]
        honest: bool,
        /// The M-bar values for --honest (default 0.5,1,2).
        #[arg(long)]
        mbar: Option<String>,
        /// The smoothness M values for --honest, in the outcome's units (default: honestdid's
        /// grid from 0 to a bound on the leads' second differences).
        #[arg(long)]
        m: Option<String>,
        /// With --cohort (Callaway-Sant'Anna): periods of anticipation before treatment.
        #[arg(long)]
        anticipation: Option<usize>,
        /// With --cohort: varying (default) | universal base period.
        #[arg(long)]
        base_period: Option<String>,
        /// The intervals' level is 1 - alpha (default 0.05).
        #[arg(long, value_parser = share)]
        alpha: Option<f64>,
    },
    /// Instrumental variables: two-stage least squares with diagnostics.
    Iv {
        /// The data file: CSV (comma-, semicolon- or tab-separated), Parquet (.parquet), or an Excel workbook (.xlsx, .xls, .ods: its first sheet with data).
        #[arg(long)]
        input: PathBuf,
        /// The outcome column.
        #[arg(long)]
        outcome: String,
        /// Comma-separated endogenous regressors.
        #[arg(long)]
        endogenous: String,
        /// Comma-separated instruments.
        #[arg(long)]
        instruments: String,
        /// Comma-separated exogenous controls (an intercept is always included).
        #[arg(long)]
        controls: Option<String>,
        /// robust (default) | classical | hc0 | cluster:COLUMN
        #[arg(long)]
        se: Option<String>,
        /// The intervals' level is 1 - alpha (default 0.05).
        #[arg(long, value_parser = share)]
        alpha: Option<f64>,
    },
    /// Synthetic control (ADH) with optimised or fixed V; --placebo adds the permutation test.
    Synth {
        #[command(flatten)]
        panel: UnitPanel,
        /// The treated unit, or several separated by commas (pooled).
        #[arg(long)]
        treated_unit: String,
        /// The first treated period (a date when the time column holds dates).
        #[arg(long, allow_hyphen_values = true)]
        treatment_time: String,
        /// "col:1980-1988,col2:1984-1988,outcome:1975" (dates: "spend:2026-09-01..2026-10-10")
        #[arg(long)]
        predictors: Option<String>,
        /// "1970-1988" (dates: "2026-09-01..2026-10-10")
        #[arg(long)]
        fit_window: Option<String>,
        /// Placebo-in-space (permutation p-value), placebo-in-time and leave-one-out.
        #[arg(long)]
        placebo: bool,
        /// The fake treatment date of the placebo-in-time (default: the middle of the pre-period).
        #[arg(long, allow_hyphen_values = true)]
        placebo_time: Option<String>,
        /// Augmented synthetic control (ridge bias correction).
        #[arg(long)]
        augmented: bool,
        /// The ridge penalty of --augmented (default: cross-validated).
        #[arg(long, allow_hyphen_values = true)]
        ridge_lambda: Option<f64>,
        /// Conformal inference: p-value, interval for the average effect, per-period intervals.
        #[arg(long)]
        conformal: bool,
        /// The conformal intervals' level is 1 - alpha (default 0.05).
        #[arg(long, value_parser = share)]
        alpha: Option<f64>,
        /// Units left out of the donor pool, separated by commas: units treated too (a multi-cell
        /// test's other arms), which would otherwise make the synthetic control carry their effect.
        #[arg(long)]
        exclude_units: Option<String>,
    },
    /// Synthetic difference-in-differences (Arkhangelsky et al. 2021): unit and time weights, a
    /// placebo, bootstrap or jackknife standard error; treated units adopt at one common time;
    /// with few controls (fewer than 20 ways to pick the treated units' number of them) the
    /// p-value and interval are a randomization test's over the treated units' assignments.
    Sdid {
        #[command(flatten)]
        panel: UnitPanel,
        /// The 0/1 treated-and-post column.
        #[arg(long)]
        treatment: String,
        /// placebo (default) | bootstrap | jackknife
        #[arg(long)]
        se: Option<String>,
        /// Placebo or bootstrap draws (default 200).
        #[arg(long)]
        replications: Option<usize>,
        /// The seed of the random draws (bootstrap, placebo), so that a run can be repeated exactly.
        #[arg(long)]
        seed: Option<u64>,
        /// The intervals' level is 1 - alpha (default 0.05).
        #[arg(long, value_parser = share)]
        alpha: Option<f64>,
    },
    /// Time-series counterfactual (CausalImpact's design by maximum likelihood): a structural
    /// time-series model of the outcome on control series, fitted before the treatment, forecast after.
    Impact {
        /// The data file: CSV (comma-, semicolon- or tab-separated), Parquet (.parquet), or an Excel workbook (.xlsx, .xls, .ods: its first sheet with data).
        #[arg(long)]
        input: PathBuf,
        /// The period column: whole numbers, or dates (numbered from the first in steps of their
        /// spacing; the answer's time_axis gives each period's date).
        #[arg(long)]
        time: String,
        /// The outcome column.
        #[arg(long)]
        outcome: String,
        /// Comma-separated control series (columns).
        #[arg(long)]
        controls: Option<String>,
        /// The first treated period (a date when the time column holds dates).
        #[arg(long, allow_hyphen_values = true)]
        treatment_time: String,
        /// A seasonal component of this many periods (e.g. 7 for daily data).
        #[arg(long)]
        season: Option<usize>,
        /// A local linear trend (stochastic slope) as well as the level.
        #[arg(long)]
        trend: bool,
        /// The intervals' level is 1 - alpha (default 0.05).
        #[arg(long, value_parser = share)]
        alpha: Option<f64>,
        /// The posterior draws' seed.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Geo test readout: the test markets' relative lift against a synthetic control, its standard
    /// error (the design's evaluation noise, or replays of the history), t and conformal inference.
    GeoReadout {
        #[command(flatten)]
        panel: MarketPanel,
        /// Comma-separated test markets.
        #[arg(long)]
        treated_markets: String,
        /// The test's first period (a date when the time column holds dates).
        #[arg(long, allow_hyphen_values = true)]
        start: String,
        /// The test's length in periods.
        #[arg(long)]
        duration: usize,
        /// Periods fitted before the test, at most, as in the design (default 52).
        #[arg(long)]
        pre_periods: Option<usize>,
        /// Historical windows before the test replayed to measure the estimate's noise (default 6; with --design-rmse the standard error is the design's instead).
        #[arg(long)]
        windows: Option<usize>,
        /// The intervals' level is 1 - alpha (default 0.1: 90% intervals, as GeoLift's; below 0.5).
        #[arg(long, value_parser = share)]
        alpha: Option<f64>,
        /// The design candidate's placebo_rmse (with --design-windows).
        #[arg(long)]
        design_rmse: Option<f64>,
        /// The design candidate's evaluation_windows.
        #[arg(long)]
        design_windows: Option<usize>,
        /// Comma-separated markets left out (a multi-cell test's other arms).
        #[arg(long)]
        exclude_markets: Option<String>,
    },
    /// Treatment effect under measured confounding: regression adjustment, IPW or AIPW.
    Effect {
        /// The data file: CSV (comma-, semicolon- or tab-separated), Parquet (.parquet), or an Excel workbook (.xlsx, .xls, .ods: its first sheet with data).
        #[arg(long)]
        input: PathBuf,
        /// The outcome column.
        #[arg(long)]
        outcome: String,
        /// The 0/1 treatment column.
        #[arg(long)]
        treatment: String,
        /// Comma-separated confounders to adjust for.
        #[arg(long)]
        covariates: String,
        /// regression | ipw | aipw (default)
        #[arg(long)]
        method: Option<String>,
        /// ate (default) | att
        #[arg(long)]
        estimand: Option<String>,
        /// Drop units with propensity outside [trim, 1 - trim] (default 0.01).
        #[arg(long, value_parser = share)]
        trim: Option<f64>,
        /// The intervals' level is 1 - alpha (default 0.05).
        #[arg(long, value_parser = share)]
        alpha: Option<f64>,
        /// Add the placebo-treatment, random-common-cause and data-subset refutations.
        #[arg(long)]
        refute: bool,
        /// The seed of the random draws (bootstrap, placebo), so that a run can be repeated exactly.
        #[arg(long)]
        seed: Option<u64>,
    },
    /// Regression discontinuity: sharp, or fuzzy with --fuzzy; rdrobust's defaults.
    Rdd {
        /// The data file: CSV (comma-, semicolon- or tab-separated), Parquet (.parquet), or an Excel workbook (.xlsx, .xls, .ods: its first sheet with data).
        #[arg(long)]
        input: PathBuf,
        /// The outcome column.
        #[arg(long)]
        outcome: String,
        /// The running variable's column: the score whose cutoff decides the treatment.
        #[arg(long)]
        running: String,
        /// The cutoff: units at or above it are treated (sharp), or more likely treated (fuzzy).
        #[arg(long, allow_hyphen_values = true)]
        cutoff: f64,
        /// Main bandwidth (default: MSE-optimal).
        #[arg(long)]
        bandwidth: Option<f64>,
        /// triangular (default) | uniform | epanechnikov
        #[arg(long)]
        kernel: Option<String>,
        /// Treatment take-up column for a fuzzy design.
        #[arg(long)]
        fuzzy: Option<String>,
        /// Polynomial order (default 1).
        #[arg(long)]
        p: Option<usize>,
        /// mserd (default) | msetwo | msesum
        #[arg(long)]
        bwselect: Option<String>,
        /// The intervals' level is 1 - alpha (default 0.05).
        #[arg(long, value_parser = share)]
        alpha: Option<f64>,
        /// Comma-separated covariates for rdrobust's covariate adjustment (`covariates` in the answer).
        #[arg(long)]
        covariates: Option<String>,
        /// Cluster column: cluster-robust (CR1) variances (`clusters` in the answer).
        #[arg(long)]
        cluster: Option<String>,
    },
}

/// A panel of units: the file, and its unit, period and outcome columns.
#[derive(clap::Args)]
struct UnitPanel {
    /// The data file: CSV (comma-, semicolon- or tab-separated), Parquet (.parquet), or an Excel workbook (.xlsx, .xls, .ods: its first sheet with data).
    #[arg(long)]
    input: PathBuf,
    /// The unit column (a market, store or campaign): one series per unit.
    #[arg(long)]
    unit: String,
    /// The period column: whole numbers, or dates (numbered from the first in steps of their
    /// spacing; the answer's time_axis gives each period's date).
    #[arg(long)]
    time: String,
    /// The outcome column.
    #[arg(long)]
    outcome: String,
}

/// A markets' panel: the file, and its market, period and outcome columns.
#[derive(clap::Args)]
struct MarketPanel {
    /// The data file: CSV (comma-, semicolon- or tab-separated), Parquet (.parquet), or an Excel workbook (.xlsx, .xls, .ods: its first sheet with data).
    #[arg(long)]
    input: PathBuf,
    /// The market column (a region, city or DMA): one series per market.
    #[arg(long)]
    market: String,
    /// The period column: whole numbers, or dates (numbered from the first in steps of their
    /// spacing; the answer's time_axis gives each period's date).
    #[arg(long)]
    time: String,
    /// The outcome column.
    #[arg(long)]
    outcome: String,
}

#[derive(Subcommand)]
enum DesignCmd {
    /// Geo market selection: every set of up to --max-markets test markets and each duration,
    /// replayed on windows of the history with a synthetic control of the other markets; ranked
    /// by the minimum detectable lift (`geo.by_duration`, `geo.recommended`). A candidate's
    /// placebo_rmse and evaluation_windows are what `liftos estimate geo-readout` takes as
    /// --design-rmse and --design-windows once the test has run.
    Geo {
        #[command(flatten)]
        panel: MarketPanel,
        /// Comma-separated test lengths, in periods of the time column (at most 12, each at most
        /// 520).
        #[arg(long)]
        durations: String,
        /// The most test markets in a set (default 3).
        #[arg(long)]
        max_markets: Option<usize>,
        /// Comma-separated markets every set must hold.
        #[arg(long)]
        include: Option<String>,
        /// Comma-separated markets never tested (they may still serve as controls).
        #[arg(long)]
        exclude: Option<String>,
        /// The test's significance level (default 0.1).
        #[arg(long, value_parser = share)]
        alpha: Option<f64>,
        /// The power the minimum detectable lift is computed at (default 0.8).
        #[arg(long, value_parser = share)]
        power: Option<f64>,
        /// A relative lift (0.05 for +5%) to compute each candidate's power against.
        #[arg(long)]
        effect: Option<f64>,
        /// Historical windows replayed per candidate (default 6, at most 52).
        #[arg(long)]
        windows: Option<usize>,
        /// Periods fitted before each replay, at most (default 52, at most 520).
        #[arg(long)]
        pre_periods: Option<usize>,
        /// increase (default: spend raised in the test markets) | holdout (spend cut).
        #[arg(long)]
        kind: Option<String>,
        /// Cost of testing one market for one period.
        #[arg(long)]
        cost_per_market_period: Option<f64>,
        /// Cost per unit of a market's mean outcome per period (media bought in proportion to the
        /// market's size).
        #[arg(long)]
        cost_per_outcome: Option<f64>,
        /// The budget a candidate's cost must fit.
        #[arg(long)]
        budget: Option<f64>,
        /// Candidates kept per duration (default 5, at most 1000).
        #[arg(long)]
        top: Option<usize>,
        /// The channel's carry-over (a media mix model's adstock, 0 to below 1): the lift builds
        /// up over the test, and `effect` is the steady state's.
        #[arg(long)]
        carryover: Option<f64>,
        /// Arms sharing one control pool (a multi-cell test; default 1, at most 5).
        #[arg(long)]
        cells: Option<usize>,
    },
    /// Randomised assignment of the units in a file (stores, regions, customers: one row each)
    /// to arms, seeded: complete, stratified by a column, or in blocks of consecutive rows; with
    /// each covariate's balance across the arms (`balance`, `max_abs_smd`, `balanced`). Prints
    /// `{"randomization": ...}` as the design endpoint; --out also writes the assignment as CSV.
    Randomize {
        /// The data file: CSV (comma-, semicolon- or tab-separated), Parquet (.parquet), or an Excel workbook (.xlsx, .xls, .ods: its first sheet with data).
        #[arg(long)]
        input: PathBuf,
        /// The unit's id column.
        #[arg(long)]
        id: String,
        /// A column of strata (region, size band): each stratum is split between the arms in
        /// their shares (the method is then stratified unless --method says otherwise).
        #[arg(long)]
        stratum: Option<String>,
        /// Comma-separated numeric columns to check the arms' balance on.
        #[arg(long)]
        covariates: Option<String>,
        /// The arms with their weights, "control:1,treatment:1" (the default), or names alone for
        /// equal shares.
        #[arg(long)]
        arms: Option<String>,
        /// complete | stratified | blocked (blocks of --block-size consecutive rows: sort the file
        /// by the unit's size first to block on it).
        #[arg(long)]
        method: Option<String>,
        /// The block's size with --method blocked: each block of consecutive rows is split across the arms.
        #[arg(long)]
        block_size: Option<usize>,
        /// The same seed and file give the same assignment.
        #[arg(long)]
        seed: u64,
        /// Rerandomise: draw until every covariate's |SMD| is below this (0.1 is the usual
        /// threshold); `attempts` says how many draws it took.
        #[arg(long)]
        max_smd: Option<f64>,
        /// With --max-smd: the most draws (default 1000, at most 10,000).
        #[arg(long)]
        max_attempts: Option<usize>,
        /// Also write the assignment here as CSV: the id column and `arm`.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A/B test power: give two of --n-control, --effect and --power; the third is solved for
    /// (--n-control or --effect alone: at 80% power). A mean (--sd) or a rate (--baseline).
    Power {
        /// The standard deviation per unit of a mean outcome (order value, revenue per user).
        #[arg(long, conflicts_with = "baseline")]
        sd: Option<f64>,
        /// The control's rate of a 0/1 outcome (a conversion rate, 0.03 for 3%).
        #[arg(long, value_parser = share)]
        baseline: Option<f64>,
        /// Control-group units (users, stores; clusters count their units).
        #[arg(long)]
        n_control: Option<f64>,
        /// The effect, in the metric's units (an absolute difference: 0.003 for +0.3 points).
        #[arg(long, allow_hyphen_values = true)]
        effect: Option<f64>,
        /// The power to detect --effect (0.8 for 80%; the default when --n-control or --effect is
        /// given alone).
        #[arg(long, value_parser = share)]
        power: Option<f64>,
        /// Significance level (default 0.05).
        #[arg(long, value_parser = share)]
        alpha: Option<f64>,
        /// two-sided (default) | larger | smaller
        #[arg(long)]
        alternative: Option<String>,
        /// Treatment units per control unit (default 1).
        #[arg(long)]
        ratio: Option<f64>,
        /// Cluster randomisation: units per cluster (with --icc).
        #[arg(long, requires = "icc")]
        cluster_size: Option<f64>,
        /// The intra-cluster correlation (with --cluster-size).
        #[arg(long, requires = "cluster_size", value_parser = share)]
        icc: Option<f64>,
        /// CUPED: the outcome's correlation with its pre-period value.
        #[arg(long)]
        cuped_correlation: Option<f64>,
    },
}

/// A JSON string flag read as the enum its field names (`kind`, `alternative`).
fn named<T: serde::de::DeserializeOwned>(
    field: &str,
    value: Option<String>,
    expected: &str,
) -> Result<Option<T>, EstimateError> {
    value
        .map(|v| {
            serde_json::from_value(serde_json::json!(v))
                .map_err(|_| EstimateError::new(field, format!("{field}: {v:?}: expected {expected}")))
        })
        .transpose()
}

/// A CSV field: quoted when it holds a comma, a quote or a line end.
fn csv_field(v: &str) -> String {
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_string()
    }
}

fn run_design(cmd: DesignCmd) -> ExitCode {
    use liftos::api::surfacing::DesignResponse;
    use liftos_estimators::design::{geo, power};
    match cmd {
        DesignCmd::Geo {
            panel: MarketPanel { input, market, time, outcome },
            durations,
            max_markets,
            include,
            exclude,
            alpha,
            power,
            effect,
            windows,
            pre_periods,
            kind,
            cost_per_market_period,
            cost_per_outcome,
            budget,
            top,
            carryover,
            cells,
        } => {
            let time_col = time.clone();
            let req = || -> Result<liftos::api::estimate::GeoDesignRequest, EstimateError> {
                let durations = list(&durations)
                    .iter()
                    .map(|d| {
                        d.parse::<usize>().map_err(|_| {
                            EstimateError::new(
                                "durations",
                                format!("durations: {d:?} is not a whole number of periods"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                // the estimator's defaults for every setting not given
                let mut settings: geo::GeoSettings =
                    serde_json::from_value(serde_json::json!({ "durations": durations }))
                        .map_err(|e| EstimateError::new("durations", format!("durations: {e}")))?;
                settings.max_markets = max_markets.unwrap_or(settings.max_markets);
                settings.include = include.as_deref().map(list).unwrap_or_default();
                settings.exclude = exclude.as_deref().map(list).unwrap_or_default();
                settings.alpha = alpha.unwrap_or(settings.alpha);
                settings.power = power.unwrap_or(settings.power);
                settings.effect = effect;
                settings.windows = windows.unwrap_or(settings.windows);
                settings.pre_periods = pre_periods.unwrap_or(settings.pre_periods);
                settings.kind = named("kind", kind, "increase or holdout")?.unwrap_or(settings.kind);
                settings.cost_per_market_period = cost_per_market_period;
                settings.cost_per_outcome = cost_per_outcome;
                settings.budget = budget;
                settings.top = top.unwrap_or(settings.top);
                settings.carryover = carryover;
                settings.cells = cells.unwrap_or(settings.cells);
                Ok(liftos::api::estimate::GeoDesignRequest { market, time, outcome, settings })
            };
            let time = Time { column: &time_col, dates: vec![], leave_empty: false };
            on_panel(
                &input,
                Columns::Named,
                Some(time),
                req,
                |_, _| Ok(()),
                |t, r| {
                    liftos::service::estimate::geo_design(&t, r).map(|g| DesignResponse {
                        power: None,
                        randomization: None,
                        geo: Some(g),
                        time_axis: None,
                    })
                },
            )
        }
        DesignCmd::Randomize {
            input,
            id,
            stratum,
            covariates,
            arms,
            method,
            block_size,
            seed,
            max_smd,
            max_attempts,
            out,
        } => {
            use liftos_estimators::design::randomize::{Arm, Method, RandomizeSettings};
            let id_col = id.clone();
            let req = || -> Result<liftos::api::estimate::RandomizeRequest, EstimateError> {
                let arms = list(arms.as_deref().unwrap_or("control,treatment"))
                    .iter()
                    .map(|a| {
                        let (name, weight) = match a.rsplit_once(':') {
                            Some((n, w)) => (n.trim(), w.trim()),
                            None => (a.as_str(), "1"),
                        };
                        let weight = weight.parse::<f64>().map_err(|_| {
                            EstimateError::new(
                                "arms",
                                format!("arms: {a:?}: the weight after the colon is not a number"),
                            )
                        })?;
                        Ok(Arm { name: name.to_string(), weight })
                    })
                    .collect::<Result<Vec<_>, EstimateError>>()?;
                let default = if stratum.is_some() { Method::Stratified } else { Method::Complete };
                let method = named("method", method, "complete, stratified or blocked")?.unwrap_or(default);
                Ok(liftos::api::estimate::RandomizeRequest {
                    id,
                    stratum,
                    covariates: covariates.as_deref().map(list).unwrap_or_default(),
                    settings: RandomizeSettings { arms, method, block_size, seed, max_smd, max_attempts },
                })
            };
            on_csv(&input, Columns::Named, req, |t, r| {
                let result = liftos::service::estimate::randomize_units(&t, r)?;
                if let Some(path) = &out {
                    let mut text = format!("{},arm\n", csv_field(&id_col));
                    for (unit, arm) in &result.assignments {
                        text.push_str(&format!("{},{}\n", csv_field(unit), csv_field(arm)));
                    }
                    write_creating_dirs(path, &text)
                        .map_err(|e| EstimateError::new("out", format!("out: {}: {e}", path.display())))?;
                }
                Ok(DesignResponse { power: None, randomization: Some(result), geo: None, time_axis: None })
            })
        }
        DesignCmd::Power {
            sd,
            baseline,
            n_control,
            effect,
            power,
            alpha,
            alternative,
            ratio,
            cluster_size,
            icc,
            cuped_correlation,
        } => {
            let solved = || -> Result<DesignResponse, EstimateError> {
                let metric = match (sd, baseline) {
                    (Some(sd), None) => power::Metric::Mean { sd },
                    (None, Some(baseline)) => power::Metric::Proportion { baseline },
                    _ => return Err(EstimateError::new(
                        "sd",
                        "sd: give --sd (a mean outcome's standard deviation) or --baseline (a rate's control value)",
                    )),
                };
                let mut settings: power::PowerSettings =
                    serde_json::from_value(serde_json::json!({ "metric": metric }))
                        .map_err(|e| EstimateError::new("sd", format!("sd: {e}")))?;
                settings.alpha = alpha.unwrap_or(settings.alpha);
                settings.alternative =
                    named("alternative", alternative, "two-sided, larger or smaller")?.unwrap_or(settings.alternative);
                settings.ratio = ratio.unwrap_or(settings.ratio);
                settings.cluster = cluster_size.zip(icc).map(|(size, icc)| power::Cluster { size, icc });
                settings.cuped_correlation = cuped_correlation;
                let query = power::PowerQuery { n_control, effect, power };
                let answer = power::solve(&settings, &query).map_err(|e| {
                    let flag = match e.field.as_str() {
                        "query" => "n_control",
                        "metric.sd" => "sd",
                        "metric.baseline" => "baseline",
                        "cluster.size" => "cluster_size",
                        "cluster.icc" => "icc",
                        f => f,
                    };
                    let message = e
                        .message
                        .replace("n_control, effect and power", "--n-control, --effect and --power")
                        .replace("n_control or effect alone", "--n-control or --effect alone");
                    EstimateError::new(flag, format!("{flag}: {message}"))
                })?;
                Ok(DesignResponse { power: Some(answer), randomization: None, geo: None, time_axis: None })
            };
            match solved() {
                Ok(v) => emit_json(&v),
                Err(e) => fail(e.field(), &e),
            }
        }
    }
}

fn run_estimate(cmd: EstimateCmd) -> ExitCode {
    use liftos::service::estimate;
    match cmd {
        EstimateCmd::Did {
            panel: UnitPanel { input, unit, time, outcome },
            treatment,
            cohort,
            cluster,
            event_study,
            control,
            method,
            covariates,
            se,
            bootstrap,
            seed,
            weights,
            honest,
            mbar,
            m,
            anticipation,
            base_period,
            alpha,
        } => {
            let (time_col, cohort_col) = (time.clone(), cohort.clone());
            let req = || -> Result<estimate::DidRequest, EstimateError> {
                Ok(estimate::DidRequest {
                    unit,
                    time,
                    outcome,
                    treatment,
                    cohort,
                    cluster,
                    event_study,
                    control: parse_flag("control", control)?,
                    estimation: parse_flag("method", method)?,
                    covariates: covariates.as_deref().map(list).unwrap_or_default(),
                    se: parse_flag("se", se)?,
                    bootstrap,
                    seed,
                    weights: match weights.as_deref() {
                        None => None,
                        Some(w) => Some(serde_json::from_value(serde_json::json!(w)).map_err(|_| {
                            EstimateError::new("weights", format!("weights: {w:?}: expected rademacher or webb"))
                        })?),
                    },
                    honest,
                    mbar: mbar.as_deref().map(|v| numbers("mbar", v)).transpose()?,
                    m: m.as_deref().map(|v| numbers("m", v)).transpose()?,
                    anticipation,
                    base_period: match base_period.as_deref() {
                        None => None,
                        Some(b) => Some(serde_json::from_value(serde_json::json!(b)).map_err(|_| {
                            EstimateError::new(
                                "base_period",
                                format!("base_period: {b:?}: expected varying or universal"),
                            )
                        })?),
                    },
                    alpha,
                })
            };
            let dates = cohort_col.iter().map(String::as_str).collect();
            on_panel(
                &input,
                Columns::Named,
                Some(Time { column: &time_col, dates, leave_empty: true }),
                req,
                |_, _| Ok(()),
                estimate::did,
            )
        }
        EstimateCmd::Iv { input, outcome, endogenous, instruments, controls, se, alpha } => {
            let req = || -> Result<estimate::IvRequest, EstimateError> {
                Ok(estimate::IvRequest {
                    outcome,
                    endogenous: list(&endogenous),
                    instruments: list(&instruments),
                    controls: controls.as_deref().map(list).unwrap_or_default(),
                    se: parse_flag("se", se)?,
                    alpha,
                })
            };
            on_csv(&input, Columns::Named, req, estimate::iv)
        }
        EstimateCmd::Synth {
            panel: UnitPanel { input, unit, time, outcome },
            treated_unit,
            treatment_time,
            predictors,
            fit_window,
            placebo,
            placebo_time,
            augmented,
            ridge_lambda,
            conformal,
            alpha,
            exclude_units,
        } => {
            let time_col = time.clone();
            let req = || -> Result<estimate::SynthRequest, EstimateError> {
                Ok(estimate::SynthRequest {
                    unit,
                    time,
                    outcome,
                    treated_unit,
                    // read on the time axis below
                    treatment_time: 0,
                    predictors,
                    fit_window,
                    placebo,
                    placebo_time: None,
                    augmented,
                    ridge_lambda,
                    conformal,
                    alpha,
                    exclude_units,
                })
            };
            let dated = |r: &mut estimate::SynthRequest, axis: Option<&TimeAxis>| {
                r.treatment_time = time_point(axis, "treatment_time", &treatment_time)?;
                r.placebo_time = placebo_time.as_deref().map(|p| time_point(axis, "placebo_time", p)).transpose()?;
                if let Some(axis) = axis {
                    r.predictors = r.predictors.as_deref().map(|p| axis.predictors(p)).transpose()?;
                    r.fit_window = r.fit_window.as_deref().map(|w| axis.range("fit_window", w)).transpose()?;
                }
                Ok(())
            };
            let time = Time { column: &time_col, dates: vec![], leave_empty: false };
            on_panel(&input, Columns::Named, Some(time), req, dated, |t, r| estimate::synth_control(&t, r))
        }
        EstimateCmd::GeoReadout {
            panel: MarketPanel { input, market, time, outcome },
            treated_markets,
            start,
            duration,
            pre_periods,
            windows,
            alpha,
            design_rmse,
            design_windows,
            exclude_markets,
        } => {
            let time_col = time.clone();
            let req = || -> Result<estimate::GeoReadoutRequest, EstimateError> {
                Ok(estimate::GeoReadoutRequest {
                    market,
                    time,
                    outcome,
                    treated_markets: list(&treated_markets),
                    // read on the time axis below
                    start: 0,
                    duration,
                    pre_periods,
                    windows,
                    alpha,
                    design_rmse,
                    design_windows,
                    exclude_markets: exclude_markets.as_deref().map(list).unwrap_or_default(),
                })
            };
            let dated = |r: &mut estimate::GeoReadoutRequest, axis: Option<&TimeAxis>| {
                r.start = time_point(axis, "start", &start)?;
                Ok(())
            };
            let time = Time { column: &time_col, dates: vec![], leave_empty: false };
            on_panel(&input, Columns::Named, Some(time), req, dated, |t, r| estimate::geo_readout(&t, r))
        }
        EstimateCmd::Impact { input, time, outcome, controls, treatment_time, season, trend, alpha, seed } => {
            let time_col = time.clone();
            let req = || -> Result<estimate::ImpactRequest, EstimateError> {
                Ok(estimate::ImpactRequest {
                    time,
                    outcome,
                    controls: controls.as_deref().map(list).unwrap_or_default(),
                    // read on the time axis below
                    treatment_time: 0,
                    season,
                    trend,
                    alpha,
                    seed,
                })
            };
            let dated = |r: &mut estimate::ImpactRequest, axis: Option<&TimeAxis>| {
                r.treatment_time = time_point(axis, "treatment_time", &treatment_time)?;
                Ok(())
            };
            let time = Time { column: &time_col, dates: vec![], leave_empty: false };
            on_panel(&input, Columns::Named, Some(time), req, dated, |t, r| estimate::impact(&t, r))
        }
        EstimateCmd::Sdid {
            panel: UnitPanel { input, unit, time, outcome },
            treatment,
            se,
            replications,
            seed,
            alpha,
        } => {
            let time_col = time.clone();
            let req = || -> Result<estimate::SdidRequest, EstimateError> {
                Ok(estimate::SdidRequest {
                    unit,
                    time,
                    outcome,
                    treatment,
                    se: parse_flag("se", se)?,
                    replications,
                    seed,
                    alpha,
                })
            };
            let time = Time { column: &time_col, dates: vec![], leave_empty: false };
            on_panel(&input, Columns::Named, Some(time), req, |_, _| Ok(()), |t, r| estimate::sdid(&t, r))
        }
        EstimateCmd::Effect { input, outcome, treatment, covariates, method, estimand, trim, alpha, refute, seed } => {
            let req = || -> Result<estimate::EffectRequest, EstimateError> {
                Ok(estimate::EffectRequest {
                    outcome,
                    treatment,
                    covariates: list(&covariates),
                    method: parse_flag("method", method)?,
                    estimand: parse_flag("estimand", estimand)?,
                    trim,
                    alpha,
                    refute,
                    seed,
                })
            };
            on_csv(&input, Columns::Named, req, estimate::effect)
        }
        EstimateCmd::Rdd {
            input,
            outcome,
            running,
            cutoff,
            bandwidth,
            kernel,
            fuzzy,
            p,
            bwselect,
            alpha,
            covariates,
            cluster,
        } => {
            let req = || -> Result<estimate::RddRequest, EstimateError> {
                Ok(estimate::RddRequest {
                    outcome,
                    running,
                    cutoff,
                    bandwidth,
                    kernel: parse_flag("kernel", kernel)?,
                    fuzzy,
                    p,
                    bwselect: parse_flag("bwselect", bwselect)?,
                    alpha,
                    covariates: covariates.as_deref().map(list).unwrap_or_default(),
                    cluster,
                })
            };
            on_csv(&input, Columns::Named, req, estimate::rdd)
        }
    }
}

/// Which columns of the CSV a command reads.
#[derive(Clone, Copy)]
enum Columns {
    /// Only those the request names (every column name is a string in the request).
    Named,
    /// Every column (discovery without `--columns` takes every numeric column).
    All,
}

/// Parse the flags into the request, read the CSV (only the columns the request names), run
/// `estimate` on it, and print the result's JSON (or the error naming the flag or column).
fn on_csv<R: serde::Serialize, T: serde::Serialize>(
    input: &std::path::Path,
    columns: Columns,
    request: impl FnOnce() -> Result<R, EstimateError>,
    // the table by value: an estimator may consume its columns instead of copying them
    estimate: impl FnOnce(liftos_estimators::data::Table, &R) -> Result<T, EstimateError>,
) -> ExitCode {
    on_panel(input, columns, None, request, |_, _| Ok(()), estimate)
}

/// A panel's time column and the columns of dates on its axis (a cohort's first treated dates).
struct Time<'a> {
    column: &'a str,
    dates: Vec<&'a str>,
    /// A row with an empty date is left out (the DiD's incomplete rows), not refused.
    leave_empty: bool,
}

/// [`on_csv`] for a panel whose time column may hold dates: they are numbered as periods (see
/// [`TimeAxis`]), `dated` reads the request's time flags on the axis (or as whole-number periods
/// when the column holds numbers), and the answer gains `time_axis`, each period's date.
fn on_panel<R: serde::Serialize, T: serde::Serialize>(
    input: &std::path::Path,
    columns: Columns,
    time: Option<Time<'_>>,
    request: impl FnOnce() -> Result<R, EstimateError>,
    dated: impl FnOnce(&mut R, Option<&TimeAxis>) -> Result<(), EstimateError>,
    estimate: impl FnOnce(liftos_estimators::data::Table, &R) -> Result<T, EstimateError>,
) -> ExitCode {
    let result = request().and_then(|mut req| {
        let wanted = match columns {
            // a request that does not serialise (never expected) reads every column
            Columns::Named => serde_json::to_value(&req).ok().map(|v| strings_in(&v)),
            Columns::All => None,
        };
        let mut table = read_table(input, wanted.as_deref())?;
        let axis = match &time {
            None => None,
            Some(t) => TimeAxis::number(&mut table, t.column, t.leave_empty)?,
        };
        if let (Some(axis), Some(t)) = (&axis, &time) {
            for c in &t.dates {
                axis.number_dates(&mut table, c)?;
            }
        }
        dated(&mut req, axis.as_ref())?;
        let columns = table.names.clone();
        match estimate(table, &req) {
            Ok(v) => Ok((v, axis)),
            // the estimator counts in periods: say which date they count from (not for a value
            // of another column that cannot be read, nor for a message without a number: a
            // market that is not in the panel)
            Err(e) => Err(match &axis {
                Some(a)
                    if e.field() == a.column
                        || (!columns.iter().any(|c| c == e.field())
                            && e.to_string().chars().any(|c| c.is_ascii_digit())) =>
                {
                    EstimateError::new(
                        e.field(),
                        format!(
                            "{} (the dates of {:?} are numbered as periods: 1 is {}, each {})",
                            a.summary().dated(&e.to_string()),
                            a.column,
                            a.first_shown(),
                            a.step.phrase()
                        ),
                    )
                }
                // a message counted in periods names their dates
                Some(a) => EstimateError::new(e.field(), a.summary().dated(&e.to_string())),
                None => e,
            }),
        }
    });
    match result {
        Ok((v, None)) => emit_json(&v),
        Ok((v, Some(axis))) => match serde_json::to_value(&v) {
            Ok(serde_json::Value::Object(mut m)) => {
                m.insert("time_axis".into(), serde_json::json!(axis.summary()));
                emit_json(&m)
            }
            _ => emit_json(&v),
        },
        Err(e) => fail(e.field(), &e),
    }
}

/// A time flag's value: on a time column of dates a date, otherwise a whole-number period.
fn time_point(axis: Option<&TimeAxis>, field: &str, value: &str) -> Result<i64, EstimateError> {
    match axis {
        Some(a) => a.period(field, value),
        None => value.trim().parse().map_err(|_| {
            EstimateError::new(
                field,
                format!("{field}: {value:?} is not a whole-number period (the time column holds numbers, so its periods are numbers)"),
            )
        }),
    }
}

/// A `.parquet` (or `.pq`) file read by its columns, an Excel workbook (`.xlsx`, `.xls`, `.ods`)
/// by its first sheet that holds anything (the header in its first row), anything else as CSV;
/// either way only `wanted`'s columns are parsed (None: all).
fn read_table(
    input: &std::path::Path,
    wanted: Option<&[String]>,
) -> Result<liftos_estimators::data::Table, EstimateError> {
    let name = input.to_string_lossy().to_lowercase();
    if name.ends_with(".parquet") || name.ends_with(".pq") {
        let file =
            std::fs::File::open(input).map_err(|e| EstimateError::new("input", format!("{}: {e}", input.display())))?;
        return liftos::service::source::parse_parquet_file(file, wanted)
            .map_err(|e| EstimateError::new("input", format!("{}: {}", input.display(), e.summary())));
    }
    if liftos::ingestion::connectors::xlsx::is_workbook_name(&name) {
        let at = |m: String| EstimateError::new("input", format!("{}: {m}", input.display()));
        let bytes = std::fs::read(input).map_err(|e| at(e.to_string()))?;
        let text = liftos::ingestion::connectors::xlsx::workbook_text(&bytes).map_err(at)?;
        return Ok(liftos_estimators::data::Table::from_csv_bytes(text.as_bytes(), wanted)?);
    }
    Ok(liftos_estimators::data::Table::read_csv_columns(input, wanted)?)
}

/// Every string in a JSON value and every word of it (the column names a request names, with
/// those inside specifications such as `predictors`' "col:1980-1988,col2:1984"), and its other
/// words: a word that happens to be a column's name only makes that column read too.
fn strings_in(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => std::iter::once(s.clone())
            .chain(s.split([',', ':', ';', '>']).map(|w| w.trim().to_string()).filter(|w| !w.is_empty()))
            .collect(),
        serde_json::Value::Array(items) => items.iter().flat_map(strings_in).collect(),
        serde_json::Value::Object(map) => map.values().flat_map(strings_in).collect(),
        _ => vec![],
    }
}

/// Print a result as one JSON object (keys in alphabetical order, as the command always has).
fn emit_json<T: serde::Serialize>(v: &T) -> ExitCode {
    match serde_json::to_value(v) {
        Ok(v) => {
            emit(&v.to_string());
            ExitCode::SUCCESS
        }
        Err(e) => {
            emit(&serde_json::json!({"error": "internal_error", "message": e.to_string()}).to_string());
            ExitCode::FAILURE
        }
    }
}

/// Print one line of output; a closed pipe (`| head`) is not an error.
fn emit(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

fn fail(field: &str, message: impl std::fmt::Display) -> ExitCode {
    let err = serde_json::json!({"error": "invalid_request", "field": field, "message": message.to_string()});
    emit(&err.to_string());
    ExitCode::from(2)
}

fn error_chain(e: impl std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}

/// A local analysis's kind, request body and table.
fn local_analysis(
    request: &std::path::Path,
    input: &std::path::Path,
    kind: &str,
) -> Result<(liftos::service::causal::Kind, Vec<u8>, liftos_estimators::data::Table), ExitCode> {
    use liftos::service::causal::Kind;
    use liftos::service::source::{parse_panel, PanelFormat};
    let kind = match kind {
        "analyze-advanced" | "advanced" => Kind::AnalyzeAdvanced,
        "discover" => Kind::Discover,
        "treatment-effect" | "effect" => Kind::TreatmentEffect,
        other => {
            return Err(fail("kind", format!("{other:?}: expected analyze-advanced, discover or treatment-effect")))
        }
    };
    let body = std::fs::read(request).map_err(|e| fail("request", format!("{}: {e}", request.display())))?;
    let name = input.to_string_lossy().to_lowercase();
    let table = if name.ends_with(".parquet") || name.ends_with(".pq") {
        let file = std::fs::File::open(input).map_err(|e| fail("input", format!("{}: {e}", input.display())))?;
        liftos::service::source::parse_parquet_file(file, None)
    } else {
        let bytes = std::fs::read(input).map_err(|e| fail("input", format!("{}: {e}", input.display())))?;
        if liftos::ingestion::connectors::xlsx::is_workbook_name(&name) {
            let text = liftos::ingestion::connectors::xlsx::workbook_text(&bytes)
                .map_err(|m| fail("input", format!("{}: {m}", input.display())))?;
            parse_panel(text.as_bytes(), PanelFormat::Csv)
        } else {
            parse_panel(&bytes, PanelFormat::Csv)
        }
    };
    Ok((kind, body, table.map_err(|e| fail("input", e.summary()))?))
}

async fn run_serve(port: u16, data_dir: Option<PathBuf>) -> ExitCode {
    use liftos::config::{AuthSettings, Backend, Config};
    let mut config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => return fail(&e.var, e.message),
    };
    if let Some(d) = data_dir {
        config.backend = Backend::Embedded { data_dir: d };
    }
    if !matches!(config.backend, Backend::Embedded { .. }) {
        return fail("LIFTOS_BACKEND", "liftos serve runs on the embedded store");
    }
    // No API Gateway in front: the token is verified here.
    if matches!(config.auth, AuthSettings::ApiGateway) {
        return fail("LIFTOS_AUTH", "apigw trusts claims API Gateway verified; liftos serve needs local or jwks");
    }
    let deps = match liftos::runtime::Deps::from_config(config).await {
        Ok(d) => d,
        Err(e) => return fail("--data-dir", e),
    };
    match serve::run(deps, port).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail("--port", e),
    }
}

struct PipelineArgs {
    connections: Option<PathBuf>,
    credentials: Option<PathBuf>,
    start: Option<String>,
    end: Option<String>,
    kpi: Option<PathBuf>,
    kpi_column: Option<String>,
}

/// The connections file: `config/connections.json`'s format, file connections with a `path`.
/// A connection's `platform` and `kind` as a person writes them (`Google Ads`, `Meta`, `File`;
/// see [`Platform::from_name`](liftos::domain::Platform::from_name)), made the names the
/// connection format takes; a connection with a `path` and no `kind` is a file connection.
fn named_as_people_write_them(
    o: &mut serde_json::Map<String, serde_json::Value>,
) -> Result<(), (&'static str, liftos::domain::ValidationError)> {
    use liftos::domain::Platform;
    if let Some(serde_json::Value::String(p)) = o.get("platform") {
        let p = Platform::from_name(p).map_err(|e| ("platform", e))?;
        o.insert("platform".into(), p.as_str().into());
    }
    match o.get("kind") {
        Some(serde_json::Value::String(k)) => {
            let kind = match k.trim().to_lowercase().as_str() {
                "file" | "files" | "export" => "file".to_string(),
                // an API connection's kind is its platform's name
                other => Platform::from_name(other).map_or(k.clone(), |p| p.as_str().to_string()),
            };
            o.insert("kind".into(), kind.into());
        }
        None if o.contains_key("path") => {
            o.insert("kind".into(), "file".into());
        }
        _ => {}
    }
    Ok(())
}

fn read_connections(
    path: &std::path::Path,
) -> Result<(Vec<liftos::ingestion::connectors::Connection>, Vec<liftos::service::pipeline::ExportFile>), ExitCode> {
    use liftos::ingestion::connectors::{Connection, ConnectorKind};
    let text = std::fs::read_to_string(path).map_err(|e| fail("--connections", format!("{}: {e}", path.display())))?;
    // a list, or an object holding it under `connections`
    let list: Vec<serde_json::Value> = match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(serde_json::Value::Object(mut o)) if o.get("connections").is_some_and(serde_json::Value::is_array) => {
            serde_json::from_value(o.remove("connections").unwrap_or_default())
        }
        Ok(v) => serde_json::from_value(v),
        Err(e) => Err(e),
    }
    .map_err(|e| fail("--connections", format!("not a JSON list of connections: {e}")))?;
    let base = path.parent().unwrap_or(std::path::Path::new("."));
    let (mut conns, mut files) = (Vec::new(), Vec::new());
    for (i, mut v) in list.into_iter().enumerate() {
        let at = |f: &str| format!("--connections[{i}].{f}");
        if let Some(o) = v.as_object_mut() {
            named_as_people_write_them(o).map_err(|(field, e)| fail(&at(field), e))?;
        }
        let local = v.as_object_mut().and_then(|o| o.remove("path"));
        let mut conn: Connection = serde_json::from_value(v).map_err(|e| fail(&format!("--connections[{i}]"), e))?;
        let first_file = files.len();
        match (conn.kind, local) {
            (ConnectorKind::File, Some(serde_json::Value::String(p))) => {
                let p = base.join(p);
                let mut paths = Vec::new();
                if p.is_dir() {
                    let entries =
                        std::fs::read_dir(&p).map_err(|e| fail(&at("path"), format!("{}: {e}", p.display())))?;
                    for e in entries.flatten() {
                        let q = e.path();
                        let ext = q.extension().map(|x| x.to_string_lossy().to_string());
                        if ext.is_some_and(|x| liftos::service::ingestion::EXPORT_EXTENSIONS.contains(&x.as_str())) {
                            paths.push(q);
                        }
                    }
                    paths.sort();
                    if paths.is_empty() {
                        return Err(fail(
                            &at("path"),
                            format!("{} has no .csv, .tsv, .parquet, .xlsx, .xls or .ods file", p.display()),
                        ));
                    }
                } else {
                    paths.push(p);
                }
                for q in paths {
                    let bytes = std::fs::read(&q).map_err(|e| fail(&at("path"), format!("{}: {e}", q.display())))?;
                    let name = q.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
                    files.push(liftos::service::pipeline::ExportFile { connection_id: conn.id.clone(), name, bytes });
                }
            }
            (ConnectorKind::File, _) => {
                return Err(fail(&at("path"), "a file connection needs the export's path (a file or a folder)"));
            }
            (_, Some(_)) => return Err(fail(&at("path"), "only file connections take a path")),
            (_, None) => {}
        }
        // A file connection without a column map: recognised from its (first) export's header,
        // as `liftos ingest` does.
        if conn.kind == ConnectorKind::File && conn.column_map.is_none() {
            if let Some(file) = files.get(first_file) {
                match liftos::service::pipeline::detect_export_map(file) {
                    Ok(map) => conn.column_map = Some(map),
                    Err(liftos::service::ServiceError::Validation(v)) if v.field() == "file" => {
                        return Err(fail(&at("path"), v.summary()))
                    }
                    Err(liftos::service::ServiceError::Validation(v)) => {
                        return Err(fail(&at("column_map"), v.summary()))
                    }
                    Err(e) => return Err(service_fail(e)),
                }
            }
        }
        if let Err(e) = conn.validate() {
            return Err(fail(&at(e.field()), e.summary()));
        }
        conns.push(conn);
    }
    Ok((conns, files))
}

/// Each batch that was not stored, and why, on stderr (the summary's `quarantine_reason`).
fn say_quarantined(batches: &[liftos::service::pipeline::BatchSummary]) {
    for b in batches {
        if let Some(why) = &b.quarantine_reason {
            eprintln!("liftos: the batch of {} was not stored: {why}", b.connection_id);
        }
    }
}

async fn run_pipeline(data_dir: &std::path::Path, org: String, out: &std::path::Path, own: PipelineArgs) -> ExitCode {
    let org = match OrgId::new(org) {
        Ok(o) => o,
        Err(e) => return fail("--org", e),
    };
    // The local operator of the local store: every permission, in one org.
    let user = UserContext::new(org, "local-operator".into(), vec!["causal_admin".into()], vec![]);
    let now = chrono::Utc::now();
    let job = match &own.connections {
        None => None,
        Some(path) => {
            let (connections, files) = match read_connections(path) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let day = |flag: &str, v: &Option<String>, default: chrono::NaiveDate| match v {
                None => Ok(default),
                Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| fail(flag, format!("{s:?} is not a date (YYYY-MM-DD)"))),
            };
            let end = match day("--end", &own.end, now.date_naive() - chrono::Days::new(1)) {
                Ok(d) => d,
                Err(code) => return code,
            };
            let start = match day("--start", &own.start, end - chrono::Days::new(89)) {
                Ok(d) => d,
                Err(code) => return code,
            };
            if start > end {
                return fail("--start", format!("{start} is after --end {end}"));
            }
            if (end - start).num_days() >= liftos::api::ingestion::MAX_SYNC_DAYS {
                return fail(
                    "--start",
                    format!(
                        "{start} to {end} is {} days; a sync covers at most {} days (split longer backfills)",
                        (end - start).num_days() + 1,
                        liftos::api::ingestion::MAX_SYNC_DAYS
                    ),
                );
            }
            let kpi = match &own.kpi {
                None => None,
                Some(p) => match std::fs::read(p) {
                    Ok(b) => Some(b),
                    Err(e) => return fail("--kpi", format!("{}: {e}", p.display())),
                },
            };
            let creds: Box<dyn liftos::ingestion::connectors::Credentials> = match &own.credentials {
                None => Box::new(liftos::ingestion::connectors::LocalCredentials),
                Some(p) => {
                    // Never echoed: only whether the file could be read.
                    let map = std::fs::read_to_string(p)
                        .ok()
                        .and_then(|t| serde_json::from_str::<std::collections::BTreeMap<String, String>>(&t).ok());
                    match map {
                        Some(m) => Box::new(liftos::ingestion::connectors::StaticCredentials(m)),
                        None => return fail("--credentials", "not a readable JSON object of strings"),
                    }
                }
            };
            let period = liftos::ingestion::connectors::Period { start, end };
            let kpi_column = own.kpi_column.clone();
            Some((liftos::service::pipeline::OwnData { connections, files, period, kpi, kpi_column }, creds))
        }
    };
    let stores = match Stores::embedded(data_dir) {
        Ok(s) => s,
        Err(e) => return fail("--data-dir", e),
    };
    eprintln!("liftos: embedded store at {}", data_dir.display());
    let result = match job {
        None => liftos::service::pipeline::run_sample_pipeline(&stores, &user, now).await,
        Some((own, creds)) => liftos::service::pipeline::run_pipeline(&stores, &user, own, creds.as_ref(), now).await,
    };
    let summary = match result {
        Ok(s) => s,
        Err(liftos::service::ServiceError::Validation(v)) => {
            let field = match v.field() {
                "kpi" => "--kpi".to_string(),
                "kpi_column" => "--kpi-column".to_string(),
                f if f.starts_with("connections[") => format!("--{f}"),
                f => f.to_string(),
            };
            return fail(&field, v.summary());
        }
        Err(e) => {
            emit(&serde_json::json!({"error": "pipeline_failed", "message": e.to_string()}).to_string());
            return ExitCode::FAILURE;
        }
    };
    say_quarantined(&summary.ingestion.batches);
    let text = serde_json::to_string_pretty(&summary).unwrap_or_default();
    if let Err(e) = std::fs::create_dir_all(out).and_then(|_| std::fs::write(out.join("summary.json"), &text)) {
        return fail("--out", e);
    }
    eprintln!("liftos: summary written to {}", out.join("summary.json").display());
    // A run without a plan or an analysis leaves no earlier run's file behind to be read as its.
    for (name, made) in
        [("plan.html", summary.budget_recommendation.is_some()), ("report.html", summary.analysis.is_some())]
    {
        if !made {
            let _ = std::fs::remove_file(out.join(name));
        }
    }
    if let Some(plan) = &summary.budget_recommendation {
        let html = liftos::report::budget_plan(&plan.kpi, plan.currency.as_deref(), &plan.model);
        if let Err(e) = std::fs::write(out.join("plan.html"), &html) {
            return fail("--out", e);
        }
        eprintln!("liftos: budget plan written to {}", out.join("plan.html").display());
    }
    if let Some(analysis) = &summary.analysis {
        // A copy of the report beside the summary.
        match stores.panels.get_panel(&user.org_id, &analysis.report_key).await {
            Ok(Some(html)) => {
                if let Err(e) = std::fs::write(out.join("report.html"), &html) {
                    return fail("--out", e);
                }
                eprintln!("liftos: report written to {}", out.join("report.html").display());
            }
            Ok(None) => return fail("report", "the report was not stored"),
            Err(e) => return fail("report", e),
        }
        // The explanation, for a person reading the terminal.
        eprintln!("liftos: what the analysis says (grade {:?}):", analysis.explanation.evidence_grade);
        for s in &analysis.explanation.explanation.sentences {
            eprintln!("  {}", s.text);
        }
    }
    for n in &summary.notes {
        eprintln!("liftos: {n}");
    }
    emit(&text);
    ExitCode::SUCCESS
}

#[derive(clap::Args)]
struct IngestArgs {
    /// The export file (`.csv`, `.tsv`, `.parquet`, or an Excel workbook: `.xlsx`, `.xls`, `.ods`).
    file: PathBuf,
    /// The platform the export is from: meta, google_ads, tiktok, linkedin, snapchat, other (in
    /// any case, and as people name them: `Google Ads`, `google`, `Facebook`, `LinkedIn`).
    #[arg(long)]
    platform: String,
    /// A JSON column map (a file connection's `column_map`, or the connection holding it: date, campaign_id, spend, and
    /// optionally campaign_name, impressions, clicks, conversions, revenue, date_format,
    /// money_scale). Default: recognised from the export's header (the platforms' own names).
    #[arg(long)]
    column_map: Option<PathBuf>,
    /// Where the embedded store lives (SQLite file and panels).
    #[arg(long, default_value = ".liftos")]
    data_dir: PathBuf,
    /// The org the records are stored under.
    #[arg(long, default_value = "demo")]
    org: String,
    /// The file connection's id (default `{platform}-export`).
    #[arg(long)]
    connection: Option<String>,
    /// The account's time zone (IANA), in which the export's days are.
    #[arg(long, default_value = "UTC")]
    timezone: String,
    /// Account currency units to the org's reporting currency.
    #[arg(long, default_value_t = 1.0)]
    fx_rate: f64,
    /// The account's currency (USD, EUR, ...): where the export has a currency column, its
    /// rows in other currencies are left out (listed in `left_out`) for their own
    /// connection; without it, an export in several currencies is refused
    #[arg(long)]
    currency: Option<String>,
    /// ISO country for the holiday calendar of the detection.
    #[arg(long)]
    country: Option<String>,
}

async fn run_ingest(a: IngestArgs) -> ExitCode {
    use liftos::ingestion::connectors::{file::ColumnMap, Connection, ConnectorKind};
    use liftos::service::pipeline::{detect_export_map, ingest_export, ExportFile};
    let org = match OrgId::new(a.org) {
        Ok(o) => o,
        Err(e) => return fail("--org", e),
    };
    let platform = match liftos::domain::Platform::from_name(&a.platform) {
        Ok(p) => p,
        Err(e) => return fail("--platform", e),
    };
    let bytes = match std::fs::read(&a.file) {
        Ok(b) => b,
        Err(e) => return fail("file", format!("{}: {e}", a.file.display())),
    };
    let name = a.file.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "export.csv".into());
    let id = a.connection.unwrap_or_else(|| format!("{platform}-export").replace('_', "-"));
    let file = ExportFile { connection_id: id.clone(), name, bytes };
    let (map, source) = match &a.column_map {
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => return fail("--column-map", format!("{}: {e}", path.display())),
            };
            // a map, or the file connection holding one (an entry of a connections file)
            let parsed = match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(mut o)) if o.contains_key("column_map") => {
                    o.remove("column_map").map(serde_json::from_value::<ColumnMap>)
                }
                _ => None,
            };
            match parsed.unwrap_or_else(|| serde_json::from_str::<ColumnMap>(&text)) {
                Ok(m) => (m, "given"),
                Err(e) => return fail("--column-map", format!("not a column map: {e}")),
            }
        }
        None => match detect_export_map(&file) {
            Ok(m) => (m, "detected"),
            Err(liftos::service::ServiceError::Validation(v)) if v.field() == "file" => {
                return fail("file", v.summary())
            }
            Err(liftos::service::ServiceError::Validation(v)) => return fail("--column-map", v.summary()),
            Err(e) => return service_fail(e),
        },
    };
    let conn = Connection {
        id,
        kind: ConnectorKind::File,
        platform,
        account_id: String::new(),
        base_url: None,
        credentials: None,
        timezone: a.timezone,
        fx_rate: a.fx_rate,
        currency: a.currency,
        conversion_actions: vec![],
        revenue_metric: None,
        column_map: Some(map),
        country: a.country,
    };
    if let Err(e) = conn.validate() {
        let flag = match e.field() {
            "id" => "--connection".to_string(),
            "timezone" => "--timezone".into(),
            "fx_rate" => "--fx-rate".into(),
            "currency" => "--currency".into(),
            f => f.to_string(),
        };
        return fail(&flag, e.summary());
    }
    let stores = match Stores::embedded(&a.data_dir) {
        Ok(s) => s,
        Err(e) => return fail("--data-dir", e),
    };
    let user = UserContext::new(org, "local-operator".into(), vec!["causal_admin".into()], vec![]);
    eprintln!("liftos: embedded store at {}", a.data_dir.display());
    match ingest_export(&stores, &user, conn, file, source, chrono::Utc::now()).await {
        Ok(summary) => {
            for b in &summary.batches {
                for r in &b.rejected {
                    eprintln!("liftos: rejected {}: {}", r.at, r.reason);
                }
            }
            say_quarantined(&summary.batches);
            emit(&serde_json::to_string_pretty(&summary).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(liftos::service::ServiceError::Validation(v)) if v.field() == "column_map" => {
            fail("--column-map", v.summary())
        }
        Err(liftos::service::ServiceError::Validation(v)) if v.field() == "currency" => fail("--currency", v.summary()),
        Err(e) => service_fail(e),
    }
}

async fn run_kse(cmd: KseCmd) -> ExitCode {
    use liftos::service::kse;
    let local = |store: &StoreArgs| -> Result<(Stores, UserContext), ExitCode> {
        let org = OrgId::new(store.org.clone()).map_err(|e| fail("--org", e))?;
        let stores = Stores::embedded(&store.data_dir).map_err(|e| fail("--data-dir", e))?;
        Ok((stores, UserContext::new(org, "local-operator".into(), vec!["causal_admin".into()], vec![])))
    };
    let flag = |e: liftos::service::ServiceError| match e {
        liftos::service::ServiceError::Validation(v) => {
            let f = v.field().replace('_', "-");
            let f = if f == "query" || f == "text" { f } else { format!("--{f}") };
            fail(&f, v.summary())
        }
        other => service_fail(other),
    };
    match cmd {
        KseCmd::Map { text } => {
            let body = serde_json::json!({ "text": text }).to_string();
            match kse::map_request(body.as_bytes()) {
                Ok(r) => emit_pretty(&r),
                Err(e) => flag(e),
            }
        }
        KseCmd::Build { store } => {
            let (stores, user) = match local(&store) {
                Ok(x) => x,
                Err(code) => return code,
            };
            eprintln!("liftos: embedded store at {}", store.data_dir.display());
            match kse::build(&stores, &user, chrono::Utc::now()).await {
                Ok(r) => emit_pretty(&r),
                Err(e) => flag(e),
            }
        }
        KseCmd::Search { query, limit, max_edges, store } => {
            let (stores, user) = match local(&store) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let body = serde_json::json!({ "query": query, "limit": limit, "max_edges": max_edges }).to_string();
            match kse::search(&stores, &user, body.as_bytes()).await {
                Ok(r) => emit_pretty(&r),
                Err(e) => flag(e),
            }
        }
        KseCmd::Similar { node, profile, limit, date, store } => {
            let (stores, user) = match local(&store) {
                Ok(x) => x,
                Err(code) => return code,
            };
            let profile = match profile.parse() {
                Ok(p) => p,
                Err(e) => return fail("--profile", e),
            };
            let date = match date.map(|d| liftos::domain::date_range::parse_date("--date", &d)).transpose() {
                Ok(d) => d,
                Err(e) => return fail("--date", e.to_string()),
            };
            let q = liftos::api::kse::SimilarQuery { node, profile, limit: Some(limit), date };
            match kse::similar(&stores, &user, &q).await {
                Ok(r) => emit_pretty(&r),
                Err(liftos::service::ServiceError::NotFound { what }) => {
                    emit(
                        &serde_json::json!({"error": "not_found", "message": format!("{what} not found")}).to_string(),
                    );
                    ExitCode::from(2)
                }
                Err(e) => flag(e),
            }
        }
        KseCmd::Graph { node, depth, store } => {
            let (stores, user) = match local(&store) {
                Ok(x) => x,
                Err(code) => return code,
            };
            match kse::neighbourhood(&stores, &user, &liftos::api::kse::GraphQuery { node, depth: Some(depth) }).await {
                Ok(r) => emit_pretty(&r),
                Err(liftos::service::ServiceError::NotFound { what }) => {
                    emit(
                        &serde_json::json!({"error": "not_found", "message": format!("{what} not found")}).to_string(),
                    );
                    ExitCode::from(2)
                }
                Err(e) => flag(e),
            }
        }
    }
}

fn emit_pretty<T: serde::Serialize>(v: &T) -> ExitCode {
    match serde_json::to_string_pretty(v) {
        Ok(t) => {
            emit(&t);
            ExitCode::SUCCESS
        }
        Err(e) => {
            emit(&serde_json::json!({"error": "internal_error", "message": e.to_string()}).to_string());
            ExitCode::FAILURE
        }
    }
}

fn service_fail(e: liftos::service::ServiceError) -> ExitCode {
    let (field, message) = match &e {
        liftos::service::ServiceError::Validation(v) => (v.field().to_string(), v.summary()),
        other => ("request".to_string(), other.to_string()),
    };
    fail(&field, message)
}

fn run_explain(
    request: &std::path::Path,
    input: &std::path::Path,
    level: Option<f64>,
    audience: Option<&str>,
    kind: &str,
    outcome: Option<String>,
) -> ExitCode {
    use liftos::api::llm::InsightsRequest;
    use liftos::service::{causal, insights};
    let (kind, body, table) = match local_analysis(request, input, kind) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let body: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return fail("request", format!("{}: not JSON: {e}", request.display())),
    };
    // An insights body carries the analysis request and its own level and audience.
    let (analysis, mut req) = match body.get("analysis") {
        Some(_) => {
            let req: InsightsRequest = match liftos::domain::error::from_json_value(body.clone()) {
                Ok(r) => r,
                Err(e) => return fail(e.field(), e.summary()),
            };
            match req.analysis.request.clone() {
                Some(a) => (a, req),
                None => return fail("analysis.request", "with --input, the body's analysis is a request to run"),
            }
        }
        None => (body, explain_request(0.95)),
    };
    if let Err(code) = explain_flags(&mut req, level, audience, outcome) {
        return code;
    }
    if let Err(e) = liftos::llm::facts::check_level(req.confidence_level) {
        return fail(e.field(), e.summary());
    }
    let analysis = match insights::at_level(analysis, kind, req.confidence_level, false) {
        Ok(a) => a,
        Err(e) => return fail(e.field(), e.summary()),
    };
    let named = insights::outcome_of(&analysis);
    let bytes = match serde_json::to_vec(&analysis) {
        Ok(b) => b,
        Err(e) => return fail("request", e),
    };
    let output = match causal::run_local(kind, &bytes, table, &input.display().to_string()) {
        Ok((out, _html)) => out,
        Err(e) => return service_fail(e),
    };
    match insights::explain(&output, &req, named) {
        Ok(x) => emit_json(&x),
        Err(e) => service_fail(e),
    }
}

/// An explanation request at `level` with the defaults (the body gave none).
fn explain_request(level: f64) -> liftos::api::llm::InsightsRequest {
    liftos::api::llm::InsightsRequest {
        analysis: Default::default(),
        confidence_level: level,
        audience: Default::default(),
        narrator: Default::default(),
        outcome: None,
        mode: Default::default(),
        level_given: true,
    }
}

/// `--level`, `--audience` and `--outcome` over the body's own.
fn explain_flags(
    req: &mut liftos::api::llm::InsightsRequest,
    level: Option<f64>,
    audience: Option<&str>,
    outcome: Option<String>,
) -> Result<(), ExitCode> {
    if let Some(l) = level {
        req.confidence_level = l;
    }
    if let Some(a) = audience {
        req.audience = serde_json::from_value(serde_json::json!(a))
            .map_err(|_| fail("audience", format!("{a:?}: expected executive or analyst")))?;
    }
    if outcome.is_some() {
        req.outcome = outcome;
    }
    if let Some(Err(e)) = req.outcome.as_deref().map(liftos::service::insights::check_outcome_name) {
        return Err(fail(e.field(), e.summary()));
    }
    Ok(())
}

/// `liftos explain --kind budget|design|readout`: the media mix model's, a design's or a geo
/// readout's answer explained, at its own level unless `--level` (or the insights body's
/// `confidence_level`) asks for another: an error naming it for a model or a design computed at
/// a different one, the t interval recomputed for a readout. The request is the answer as the command printed it, or an insights body whose
/// `analysis.<field>` holds it.
fn run_explain_answer<T: serde::de::DeserializeOwned>(
    request: &std::path::Path,
    flags: (Option<f64>, Option<&str>, Option<String>),
    field: &str,
    pick: impl Fn(&liftos::api::llm::AnalysisSource) -> Option<T>,
    explain: impl Fn(&T, &liftos::api::llm::InsightsRequest) -> Result<liftos::llm::Insights, liftos::service::ServiceError>,
) -> ExitCode {
    use liftos::api::llm::InsightsRequest;
    let (level, audience, outcome) = flags;
    let bytes = match std::fs::read(request) {
        Ok(b) => b,
        Err(e) => return fail("request", format!("{}: {e}", request.display())),
    };
    let body: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return fail("request", format!("{}: not JSON: {e}", request.display())),
    };
    let (answer, mut req) = match body.get("analysis") {
        Some(_) => {
            let given = body.get("confidence_level").is_some();
            let mut req: InsightsRequest = match liftos::domain::error::from_json_value(body.clone()) {
                Ok(r) => r,
                Err(e) => return fail(e.field(), e.summary()),
            };
            req.level_given = given;
            match pick(&req.analysis) {
                Some(a) => (a, req),
                None => {
                    return fail(
                        &format!("analysis.{field}"),
                        format!("with --kind, the body's analysis.{field} is the answer to explain"),
                    )
                }
            }
        }
        None => match liftos::domain::error::from_json_value::<T>(body) {
            Ok(a) => {
                let mut req = explain_request(0.95);
                req.level_given = false;
                (a, req)
            }
            Err(e) => return fail(&format!("request.{}", e.field()), e.summary()),
        },
    };
    if let Err(code) = explain_flags(&mut req, level, audience, outcome) {
        return code;
    }
    if level.is_some() {
        req.level_given = true;
    }
    match explain(&answer, &req) {
        Ok(x) => emit_json(&x),
        Err(e) => service_fail(e),
    }
}

fn run_counterfactual(request: &std::path::Path, input: Option<&std::path::Path>, level: Option<f64>) -> ExitCode {
    use liftos::api::llm::CounterfactualRequest;
    use liftos::service::counterfactual::{self, Analysed};
    use liftos::service::{causal, insights};
    let body = match std::fs::read(request) {
        Ok(b) => b,
        Err(e) => return fail("request", format!("{}: {e}", request.display())),
    };
    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return fail("request", format!("{}: not JSON: {e}", request.display())),
    };
    let mut req: CounterfactualRequest = match liftos::domain::error::from_json_value(value) {
        Ok(r) => r,
        Err(e) => return fail(e.field(), e.summary()),
    };
    if let Some(l) = level {
        req.confidence_level = l;
    }
    if let Err(e) = counterfactual::check(&req) {
        return fail(e.field(), e.summary());
    }
    let analysed = match &req.analysis {
        None => None,
        Some(a) => {
            let (Some(analysis), None, None) = (a.request.clone(), &a.job_id, &a.result) else {
                return fail("analysis.request", "locally, the analysis is a request to run on --input");
            };
            let Some(input) = input else {
                return fail("input", "the analysis request needs its data: --input FILE.csv|.parquet");
            };
            let (_, _, table) = match local_analysis(request, input, "analyze-advanced") {
                Ok(x) => x,
                Err(code) => return code,
            };
            let analysis =
                match insights::at_level(analysis, causal::Kind::AnalyzeAdvanced, req.confidence_level, false) {
                    Ok(a) => a,
                    Err(e) => return fail(e.field(), e.summary()),
                };
            let outcome = insights::outcome_of(&analysis);
            let bytes = match serde_json::to_vec(&analysis) {
                Ok(b) => b,
                Err(e) => return fail("request", e),
            };
            match causal::run_local_advanced(&bytes, table, &input.display().to_string()) {
                Ok((output, table, methods)) => Some(Analysed { output, data: Some((table, methods)), outcome }),
                Err(liftos::service::ServiceError::Validation(v)) => {
                    let v = v.within("analysis.request");
                    return fail(v.field(), v.summary());
                }
                Err(e) => return service_fail(e),
            }
        }
    };
    let history = match req.budget.as_ref().map(|b| (&b.history, &b.records)) {
        None => None,
        Some((Some(h), None)) => Some(h.clone()),
        Some(_) => return fail("budget.history", "locally, give the budget's history inline (records need the API)"),
    };
    match counterfactual::compute(&req, analysed.as_ref(), history.as_ref()) {
        Ok(x) => emit_json(&x),
        Err(e) => service_fail(e),
    }
}

/// Write `text` to `path`, creating its folder first.
fn write_creating_dirs(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(path, text)
}

fn run_report(request: &std::path::Path, input: &std::path::Path, kind: &str, out: &std::path::Path) -> ExitCode {
    use liftos::service::causal;
    let (kind, body, table) = match local_analysis(request, input, kind) {
        Ok(x) => x,
        Err(code) => return code,
    };
    let (mut value, html) = match causal::run_local(kind, &body, table, &input.display().to_string()) {
        Ok(x) => x,
        Err(e) => return service_fail(e),
    };
    if let Err(e) = write_creating_dirs(out, &html) {
        return fail("out", format!("{}: {e}", out.display()));
    }
    *value.report_mut() =
        Some(liftos::api::causal::ReportLink::Local { path: out.display().to_string(), bytes: html.len() });
    eprintln!("liftos: report written to {}", out.display());
    emit_json(&value)
}

/// glibc's allocator as a command on a large file wants it: blocks of 6 MiB and more mapped on
/// their own and on transparent huge pages
/// (`glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=6291456`). Such a command reads the file
/// into columns of millions of values and fits on them: most of its memory is a few large
/// blocks, each touched first once. On 4 KiB pages the kernel took a fault and zeroed a page for
/// every 4 KiB (22,868 faults for the 1,000,000-row TWFE run, a quarter of its CPU time in
/// `clear_page`); with these settings 7,899. Measured in the README ("glibc's allocator tuned"):
/// TWFE and the 2SLS from Parquet 13-21% faster, no command slower beyond noise; peaks a few MiB
/// higher, so a file under 8 MiB (where the process's own size weighs most against the data's)
/// is left as it was. One arena for all threads (`arena_max=1`) cut the faults further but made
/// the placebo-in-space run 3.6x slower (its workers' small allocations queue on the one arena)
/// and the main job 1.6x: left out.
/// Tunables are read only as a process starts, so the command starts itself again with them,
/// once (they are then set); a user's own `GLIBC_TUNABLES` is left alone. Where the exec fails
/// the command runs as it is.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    use std::os::unix::process::CommandExt;
    if std::env::var_os("GLIBC_TUNABLES").is_some() {
        return;
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let input = args
        .windows(2)
        .find(|w| w[0] == "--input")
        .map(|w| std::path::PathBuf::from(&w[1]))
        .or_else(|| args.iter().find_map(|a| a.to_str()?.strip_prefix("--input=").map(std::path::PathBuf::from)));
    if !input.and_then(|p| std::fs::metadata(p).ok()).is_some_and(|m| m.is_file() && m.len() >= 8 << 20) {
        return;
    }
    let Ok(exe) = std::env::current_exe() else { return };
    let mut again = std::process::Command::new(exe);
    if let Some(arg0) = args.first() {
        again.arg0(arg0);
    }
    // returns only if the exec failed
    let _ = again
        .args(args.iter().skip(1))
        .env("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=6291456")
        .exec();
}

fn main() -> ExitCode {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    tune_allocator();
    run()
}

#[tokio::main]
async fn run() -> ExitCode {
    let cli = Cli::parse();
    let level = if cli.quiet { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_writer(|| progress::LogWriter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| level.into()))
        .init();
    progress::install(cli.quiet);
    match cli.command {
        Command::Estimate { method } => run_estimate(method),
        Command::Design { kind } => run_design(kind),
        Command::Mmm {
            input,
            date,
            kpi,
            spend,
            controls,
            lift_tests,
            budget,
            max_change,
            periods,
            seed,
            draws,
            level,
            folds,
            no_trend,
            yearly,
            weekly,
            history_start,
            attributed,
            holidays,
            report,
        } => {
            use liftos::service::estimate;
            use liftos_estimators::mmm::MmmSettings;
            let d = MmmSettings::default();
            let start = named("history_start", history_start, "auto, running or launch");
            let req = estimate::MmmRequest {
                date,
                kpi,
                spend: list(&spend),
                controls: controls.as_deref().map(list).unwrap_or_default(),
                attributed,
                holidays,
                settings: MmmSettings {
                    trend: !no_trend,
                    yearly,
                    weekly,
                    draws: draws.unwrap_or(d.draws),
                    level: level.unwrap_or(d.level),
                    seed: seed.unwrap_or(d.seed),
                    folds: folds.unwrap_or(d.folds),
                    budget,
                    max_change,
                    block_length: None,
                    periods: periods.unwrap_or(d.periods),
                    history_start: d.history_start,
                },
            };
            let lifts = match lift_tests.as_deref().map(liftos_estimators::data::Table::read_csv).transpose() {
                Ok(t) => t,
                Err(e) => return fail("lift-tests", e),
            };
            on_csv(
                &input,
                Columns::Named,
                || {
                    let mut req = req;
                    req.settings.history_start = start?.unwrap_or_default();
                    Ok(req)
                },
                |t, r| {
                    let model = estimate::mmm(&t, lifts.as_ref(), r)?;
                    if let Some(path) = &report {
                        let html = liftos::report::budget_plan(&r.kpi, None, &model);
                        write_creating_dirs(path, &html).map_err(|e| {
                            liftos::service::estimate::EstimateError::new("report", format!("{}: {e}", path.display()))
                        })?;
                        eprintln!("liftos: report written to {}", path.display());
                    }
                    Ok(model)
                },
            )
        }
        Command::Discover { input, columns, alpha, method, tiers, forbid, require, max_depth, funnel_tiers } => {
            use liftos::service::estimate;
            let pairs = |s: &Option<String>, flag: &str| -> Result<Vec<(String, String)>, String> {
                s.as_deref()
                    .map(|s| {
                        list(s)
                            .into_iter()
                            .map(|p| {
                                p.split_once('>')
                                    .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
                                    .ok_or_else(|| format!("{flag}: {p:?} is not FROM>TO"))
                            })
                            .collect()
                    })
                    .unwrap_or_else(|| Ok(vec![]))
            };
            let (forbidden, required) = match (pairs(&forbid, "--forbid"), pairs(&require, "--require")) {
                (Ok(f), Ok(r)) => (f, r),
                (Err(e), _) => return fail("forbid", e),
                (_, Err(e)) => return fail("require", e),
            };
            let mut tier_map = std::collections::HashMap::new();
            for (t, group) in tiers.as_deref().unwrap_or("").split(';').enumerate() {
                for v in list(group) {
                    tier_map.insert(v, t as i64);
                }
            }
            let req = || -> Result<estimate::DiscoverRequest, EstimateError> {
                Ok(estimate::DiscoverRequest {
                    columns: columns.as_deref().map(list).unwrap_or_default(),
                    alpha,
                    method: parse_flag("method", method)?,
                    knowledge: liftos_estimators::discovery::BackgroundKnowledge {
                        forbidden,
                        required,
                        tiers: tier_map,
                    },
                    max_depth,
                    funnel_tiers,
                })
            };
            let read = if columns.is_some() { Columns::Named } else { Columns::All };
            on_csv(&input, read, req, |t, r| estimate::discover(&t, r))
        }
        Command::Pipeline { data_dir, org, out, connections, credentials, start, end, kpi, kpi_column } => {
            let own = PipelineArgs { connections, credentials, start, end, kpi, kpi_column };
            run_pipeline(&data_dir, org, &out, own).await
        }
        Command::Report { request, input, kind, out } => run_report(&request, &input, &kind, &out),
        Command::Serve { port, data_dir } => run_serve(port, data_dir).await,
        Command::Kse { command } => run_kse(command).await,
        Command::Ingest(args) => run_ingest(args).await,
        Command::Counterfactual { request, input, level } => run_counterfactual(&request, input.as_deref(), level),
        Command::Explain { request, input, level, audience, kind, outcome } => match (kind.as_str(), input) {
            (k, _)
                if !matches!(
                    k,
                    "analyze-advanced"
                        | "advanced"
                        | "discover"
                        | "treatment-effect"
                        | "effect"
                        | "budget"
                        | "design"
                        | "readout"
                ) =>
            {
                fail(
                    "kind",
                    format!("{k:?}: expected analyze-advanced, discover, treatment-effect, budget, design or readout"),
                )
            }
            ("budget", None) => run_explain_answer(
                &request,
                (level, audience.as_deref(), outcome),
                "budget_result",
                |a| a.budget_result.as_deref().cloned(),
                liftos::service::insights::explain_budget,
            ),
            ("design", None) => run_explain_answer(
                &request,
                (level, audience.as_deref(), outcome),
                "design_result",
                |a| a.design_result.as_deref().cloned(),
                liftos::service::insights::explain_design,
            ),
            ("readout", None) => run_explain_answer(
                &request,
                (level, audience.as_deref(), outcome),
                "readout_result",
                |a| a.readout_result.as_deref().cloned(),
                liftos::service::insights::explain_readout,
            ),
            ("budget" | "design" | "readout", Some(_)) => {
                fail("input", format!("--kind {kind} explains the answer in --request: no --input"))
            }
            (_, Some(input)) => run_explain(&request, &input, level, audience.as_deref(), &kind, outcome),
            (_, None) => fail("input", "required: the data the request's analysis runs on"),
        },
        Command::Openapi => {
            use std::io::Write;
            let _ = std::io::stdout().lock().write_all(liftos::api::openapi::document_text().as_bytes());
            ExitCode::SUCCESS
        }
        Command::InitAws { table, bucket, audit_table } => {
            use liftos::storage::aws;
            let sdk = aws::sdk_config().await;
            if let Err(e) = aws::create_table(&aws::dynamodb_client(&sdk), &table).await {
                return fail("--table", e);
            }
            if let Some(t) = &audit_table {
                if let Err(e) = aws::create_table(&aws::dynamodb_client(&sdk), t).await {
                    return fail("--audit-table", e);
                }
            }
            if let Err(e) = aws::s3_client(&sdk).create_bucket().bucket(&bucket).send().await {
                return fail("--bucket", error_chain(e));
            }
            emit(&serde_json::json!({"table": table, "bucket": bucket, "created": true}).to_string());
            ExitCode::SUCCESS
        }
        Command::Token { org, user, roles, permissions, ttl } => {
            let Ok(secret) = std::env::var("LIFTOS_JWT_SECRET") else {
                return fail("LIFTOS_JWT_SECRET", "is not set");
            };
            if secret.len() < liftos::config::MIN_SECRET_LEN {
                return fail("LIFTOS_JWT_SECRET", "must be at least 32 bytes");
            }
            let issuer = std::env::var("LIFTOS_JWT_ISSUER").unwrap_or_else(|_| "liftos-local".into());
            let audience = std::env::var("LIFTOS_JWT_AUDIENCE").unwrap_or_else(|_| "liftos".into());
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            let perms: Vec<&str> = permissions.iter().map(String::as_str).collect();
            match liftos::runtime::auth::mint_local(&secret, &issuer, &audience, &org, &user, &roles, &perms, ttl) {
                Ok(t) => {
                    emit(&serde_json::json!({"token": t}).to_string());
                    ExitCode::SUCCESS
                }
                Err(e) => fail("token", e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Every option of every command says what it is in `--help` (an option listed with no
    /// words left the user to guess what `--alpha` or `--input` takes).
    #[test]
    fn every_option_of_every_command_says_what_it_is() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} --{}", arg.get_long().unwrap_or(arg.get_id().as_str())));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&<super::Cli as clap::CommandFactory>::command(), "liftos", &mut missing);
        assert!(missing.is_empty(), "options without help: {missing:?}");
    }
}
