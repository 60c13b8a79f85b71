#!/usr/bin/env python3
"""Every kind of report, rendered by a real browser (issue 20, item 6).

`liftos report` writes the report of analyze/advanced for each method (TWFE with its event study,
Callaway-Sant'Anna, 2SLS, RDD, synthetic control with placebos, synthetic DiD, the time-series
counterfactual), of discover (PC and DirectLiNGAM) and of treatment-effect (AIPW) on the
reference data, and `liftos pipeline` writes the main job's reports on the bundled sample (the
analysis, and the budget plan with its money in the accounts' currency), and `liftos mmm --report`
writes the media mix model's (response curves, the KPI over time). Each is opened in headless Chromium (Debian's package; tests/run.sh
installs it), which must log nothing to the console: the reports carry no script, so any console
line is an error Chromium found in the page (an SVG attribute it could not parse, such as a NaN
coordinate, is one). The DOM Chromium built must hold every plot the file has, each report must
open with its plain-language explanation ("In words"), the media mix reports must show the spend,
the response curves and the KPI over time, and the time axes must read as dates, not day numbers. A screenshot of each report is
written next to it.

    python3 tests/browser_reports.py LIFTOS_BINARY OUT_DIR
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "reference" / "data"

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]

# name, kind, request body, data file, a phrase the report must show
CASES = [
    ("twfe-event-study", "analyze-advanced",
     {"methods": [{"method": "did", "unit": "unit", "time": "time", "outcome": "y", "treatment": "d",
                   "event_study": True}]}, "wild_panel.csv", "Difference-in-differences"),
    ("callaway-santanna", "analyze-advanced",
     {"methods": [{"method": "did", "unit": "countyreal", "time": "year", "outcome": "lemp",
                   "cohort": "first.treat"}]}, "mpdta.csv", "Callaway"),
    ("iv", "analyze-advanced",
     {"methods": [{"method": "iv", "outcome": "y", "endogenous": ["x"], "instruments": ["z1", "z2"],
                   "controls": ["w1"]}]}, "iv_sim.csv", "Instrumental variables"),
    ("rdd", "analyze-advanced",
     {"methods": [{"method": "rdd", "outcome": "vote", "running": "margin", "cutoff": 0}]},
     "rdrobust_senate.csv", "Regression discontinuity"),
    ("synth-placebo", "analyze-advanced",
     {"methods": [{"method": "synth", "unit": "state", "time": "year", "outcome": "cigsale",
                   "treated_unit": "California", "treatment_time": 1989,
                   "predictors": "outcome:1975,outcome:1980,outcome:1988", "fit_window": "1970-1988",
                   "placebo": True}]}, "smoking_prop99.csv", "Synthetic control"),
    ("sdid", "analyze-advanced",
     {"methods": [{"method": "sdid", "unit": "state", "time": "year", "outcome": "cigsale",
                   "treatment": "treated", "replications": 50}]}, "prop99_sdid.csv", "Synthetic difference"),
    ("impact", "analyze-advanced",
     {"methods": [{"method": "impact", "time": "day", "outcome": "sales", "controls": ["x1", "x2"],
                   "treatment_time": 100, "season": 7}]}, "impact_sim.csv", "counterfactual"),
    ("discover-pc", "discover", {"alpha": 0.05}, "dag_sim.csv", "PC"),
    ("discover-lingam", "discover", {"method": "lingam"}, "lingam_sim.csv", "LiNGAM"),
    ("treatment-effect-aipw", "treatment-effect",
     {"outcome": "y", "treatment": "d", "covariates": ["x1", "x2"], "method": "aipw"}, "effects_sim.csv", "In words"),
]

# reports whose results are tables alone (the 2SLS has no figure)
TABLES_ONLY = {"iv"}


def fail(message):
    print(f"browser_reports: FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    if r.returncode != 0:
        fail(f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


def browser(cmd):
    """Run Chromium; a crash of the browser process itself (killed by a signal, which happened
    here while a release build took the machine's memory) is retried twice, never an exit code."""
    for attempt in range(3):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        if r.returncode >= 0 or attempt == 2:
            break
        print(f"  chromium killed by signal {-r.returncode}; retrying", file=sys.stderr)
    if r.returncode != 0:
        fail(f"{' '.join(map(str, cmd))} exited {r.returncode}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return r


def render(chromium, html, png):
    """Open `html` in headless Chromium: the console lines it logged, the DOM it built."""
    with tempfile.TemporaryDirectory() as profile:
        url = html.resolve().as_uri()
        common = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
        shot = browser([*common, "--window-size=1280,6000", f"--screenshot={png}", url])
        dom = browser([*common, "--dump-dom", url])
    console = [line for line in (shot.stderr + dom.stderr).splitlines() if ":CONSOLE" in line]
    return console, dom.stdout


def main():
    if len(sys.argv) != 3:
        fail("usage: browser_reports.py LIFTOS_BINARY OUT_DIR")
    liftos, out = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        fail("no chromium on PATH (tests/run.sh installs Debian's package)")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)

    reports = []
    for name, kind, body, data, phrase in CASES:
        request = out / f"{name}.request.json"
        request.write_text(json.dumps(body))
        html = out / f"{name}.html"
        run([liftos, "--quiet", "report", "--kind", kind, "--request", request, "--input", DATA / data,
             "--out", html])
        reports.append((name, html, phrase))
    # the main job on the bundled sample: ingest to the analysis and the budget plan
    job = out / "main-job"
    run([liftos, "--quiet", "pipeline", "--data-dir", job / ".liftos", "--out", job], cwd=ROOT)
    reports.append(("main-job", job / "report.html", "In words"))
    reports.append(("budget-plan", job / "plan.html", "Budget plan"))
    # the media mix model's report from the command, on two years of daily data
    mmm = out / "mmm.html"
    run([liftos, "--quiet", "mmm", "--input", ROOT / "tests/reference/data/mmm_daily.csv", "--date", "date",
         "--kpi", "kpi", "--spend", "search,social,video,affiliates,display", "--controls", "promo",
         "--draws", "40", "--folds", "2", "--report", mmm])
    reports.append(("mmm", mmm, "Response curves"))

    for name, html, phrase in reports:
        source = html.read_text()
        png = out / f"{name}.png"
        console, dom = render(chromium, html, png)
        if console:
            fail(f"{name}: the browser logged {len(console)} console line(s):\n" + "\n".join(console[:20]))
        if not png.exists() or png.stat().st_size < 10_000:
            fail(f"{name}: no screenshot, or an empty one ({png})")
        plots = source.count("<svg")
        if (plots == 0 and name not in TABLES_ONLY) or dom.count("<svg") != plots:
            fail(f"{name}: {plots} plots in the file, {dom.count('<svg')} in the browser's DOM")
        if phrase.lower() not in dom.lower():
            fail(f"{name}: the rendered page does not show {phrase!r}")
        # each report opens with its plain-language headline
        headings = re.findall(r"<h2>(.*?)</h2>", dom)
        if not headings or headings[0] != "In words":
            fail(f"{name}: the first section is {headings[:1]}, not the plain-language 'In words'")
        if name in ("budget-plan", "main-job"):
            # money shows its currency: the sample's accounts report in USD (the main job's
            # analysis is of their revenue)
            if not re.search(r"USD [\d,]+", dom):
                fail(f"{name}: no amount shown with its currency")
        if name in ("budget-plan", "mmm"):
            # the media mix model's plots: spend, response curves, the KPI over time
            for part in ("Response curves", "The KPI over time"):
                if part not in headings:
                    fail(f"{name}: no section {part!r} (sections: {headings})")
            if plots < 3:
                fail(f"{name}: {plots} plots, expected the spend, the response curves and the KPI over time")
        if name in ("main-job", "budget-plan", "mmm"):
            # tick labels of the time axes: dates, never day numbers such as 20725 or 20725.0
            days = re.findall(r">\s*(2\d{4}(?:\.0)?)\s*</text>", dom)
            if days:
                fail(f"{name}: time axes labelled with day numbers: {days[:5]}")
            if not re.search(r">\s*20\d\d-\d\d-\d\d\s*</text>", dom):
                fail(f"{name}: no date on any axis")
        print(f"  {name}: rendered, no console errors, {plots} plot(s), screenshot {png}")
    print(f"browser_reports: {len(reports)} reports rendered in {chromium}")


if __name__ == "__main__":
    main()
