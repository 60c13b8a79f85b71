"""Power analysis references from statsmodels (statsmodels.stats.power): writes
tests/reference/power_statsmodels.json. Run: python power_statsmodels.py (statsmodels, scipy)."""
import json, os
import statsmodels
from statsmodels.stats.power import TTestIndPower, NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

here = os.path.dirname(os.path.abspath(__file__))
t, z = TTestIndPower(), NormalIndPower()
cases = []
for d, alpha, power, ratio, alt in [(0.2, 0.05, 0.8, 1.0, "two-sided"), (0.5, 0.05, 0.9, 1.0, "two-sided"),
                                    (0.1, 0.01, 0.8, 2.0, "two-sided"), (0.3, 0.05, 0.8, 0.5, "larger"),
                                    (0.05, 0.05, 0.8, 1.0, "larger"), (0.8, 0.1, 0.95, 3.0, "two-sided")]:
    n1 = t.solve_power(effect_size=d, alpha=alpha, power=power, ratio=ratio, alternative=alt)
    cases.append({"kind": "means_sample_size", "effect_size": d, "alpha": alpha, "power": power, "ratio": ratio,
                  "alternative": alt, "nobs1": n1})
for d, n1, alpha, ratio, alt in [(0.2, 400, 0.05, 1.0, "two-sided"), (0.1, 1000, 0.05, 1.5, "larger"), (0.5, 30, 0.01, 1.0, "two-sided")]:
    cases.append({"kind": "means_power", "effect_size": d, "nobs1": n1, "alpha": alpha, "ratio": ratio, "alternative": alt,
                  "power": t.power(effect_size=d, nobs1=n1, alpha=alpha, ratio=ratio, alternative=alt)})
for n1, alpha, power, ratio, alt in [(500, 0.05, 0.8, 1.0, "two-sided"), (2000, 0.05, 0.9, 2.0, "larger"), (60, 0.05, 0.8, 1.0, "two-sided")]:
    es = t.solve_power(nobs1=n1, alpha=alpha, power=power, ratio=ratio, alternative=alt)
    # brentq stops short of the root: record how far (in power) and the slope, so a test can
    # tell solver tolerance from disagreement.
    at = t.power(es, n1, alpha, ratio=ratio, alternative=alt)
    slope = (t.power(es * (1 + 1e-6), n1, alpha, ratio=ratio, alternative=alt) - t.power(es * (1 - 1e-6), n1, alpha, ratio=ratio, alternative=alt)) / (2e-6 * es)
    cases.append({"kind": "means_mde", "nobs1": n1, "alpha": alpha, "power": power, "ratio": ratio, "alternative": alt,
                  "effect_size": es, "power_at_solution": at, "slope": slope})
for p1, p2, alpha, power, ratio, alt in [(0.05, 0.06, 0.05, 0.8, 1.0, "two-sided"), (0.10, 0.12, 0.05, 0.9, 1.0, "two-sided"),
                                         (0.02, 0.025, 0.05, 0.8, 2.0, "larger"), (0.30, 0.25, 0.01, 0.8, 1.0, "two-sided")]:
    h = proportion_effectsize(p2, p1)
    cases.append({"kind": "proportions_sample_size", "p1": p1, "p2": p2, "alpha": alpha, "power": power, "ratio": ratio,
                  "alternative": alt, "cohens_h": h,
                  "nobs1": z.solve_power(effect_size=h, alpha=alpha, power=power, ratio=ratio, alternative=alt)})
# Edge cases (issue 17): the detectable change of a rate downward ("smaller": statsmodels solves
# for a negative h; the rate is sin^2 of the angle), the power of the largest possible change
# (the rate at 1) when no change within 0 < p < 1 reaches the power asked, and the power at the
# smallest sample (2 per arm) when that already exceeds the target.
import math
for p1, n1, alpha, power, alt in [(0.10, 400, 0.05, 0.8, "smaller"), (0.30, 150, 0.05, 0.9, "smaller"),
                                  (0.40, 60, 0.05, 0.8, "two-sided")]:
    h = z.solve_power(nobs1=n1, alpha=alpha, power=power, ratio=1.0, alternative=alt)
    if alt == "smaller":
        h = -abs(h)
    else:
        h = abs(h)
    p2 = math.sin(math.asin(math.sqrt(p1)) + h / 2) ** 2
    cases.append({"kind": "proportions_mde", "p1": p1, "nobs1": n1, "alpha": alpha, "power": power, "ratio": 1.0,
                  "alternative": alt, "cohens_h": h, "p2": p2})
for p1, n1, alpha, power, alt in [(0.5, 5, 0.05, 0.8, "two-sided"), (0.02, 20, 0.05, 0.8, "smaller")]:
    edge = 0.0 if alt == "smaller" else 1.0
    cases.append({"kind": "proportions_unattainable", "p1": p1, "nobs1": n1, "alpha": alpha, "power": power,
                  "ratio": 1.0, "alternative": alt,
                  "power_at_edge": z.power(effect_size=proportion_effectsize(edge, p1), nobs1=n1, alpha=alpha,
                                           ratio=1.0, alternative=alt)})
for d, alpha, power, alt in [(6.0, 0.05, 0.8, "two-sided"), (5.0, 0.05, 0.8, "larger")]:
    cases.append({"kind": "means_smallest_n", "effect_size": d, "alpha": alpha, "power": power, "ratio": 1.0,
                  "alternative": alt, "nobs1": 2.0,
                  "power_at_2": t.power(effect_size=d, nobs1=2, alpha=alpha, ratio=1.0, alternative=alt)})
json.dump({"_about": f"statsmodels {statsmodels.__version__}: TTestIndPower (means; effect size = Cohen's d) and "
           "NormalIndPower with proportion_effectsize(p2, p1) (proportions; Cohen's h); nobs2 = ratio * nobs1",
           "cases": cases}, open(os.path.join(here, "..", "power_statsmodels.json"), "w"), indent=1)
print(len(cases))
