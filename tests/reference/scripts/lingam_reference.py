"""DirectLiNGAM reference: writes data/lingam_sim.csv (a linear non-Gaussian DAG, variables in a
shuffled order) and lingam_reference.json (lingam 1.13.0, scikit-learn 1.9.1):
DirectLiNGAM() and DirectLiNGAM(prior_knowledge=tiers) causal orders and adjacency matrices.
Run: python lingam_reference.py"""
import json, os
import numpy as np, pandas as pd
import lingam, sklearn

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261127)
p, n = 8, 3000
B = np.zeros((p, p))  # topological order 0..p-1, B[i, j] != 0: j -> i
for i in range(p):
    for j in range(i):
        if rng.random() < 0.35:
            B[i, j] = rng.uniform(0.5, 1.5) * rng.choice([-1, 1])
E = rng.uniform(-1, 1, (n, p)) * rng.uniform(0.5, 1.5, p)
X = np.zeros((n, p))
for i in range(p):
    X[:, i] = X @ B[i] + E[:, i]
perm = rng.permutation(p)  # column k holds variable perm[k]
names = [f"v{k}" for k in range(p)]
df = pd.DataFrame(X[:, perm], columns=names)
df.to_csv(os.path.join(here, "..", "data", "lingam_sim.csv"), index=False)
true_edges = [[names[list(perm).index(j)], names[list(perm).index(i)]] for i in range(p) for j in range(p) if B[i, j] != 0]
out = {"_about": f"lingam {lingam.__version__}, scikit-learn {sklearn.__version__}: DirectLiNGAM().fit(X) on data/lingam_sim.csv; "
       "adjacency[i][j] != 0 means column j -> column i; 'tiers' passes prior_knowledge pk with pk[a, b] = 0 "
       "when column a's tier is earlier than column b's (no path from b to a), -1 elsewhere",
       "columns": names, "true_edges": true_edges}
m = lingam.DirectLiNGAM().fit(df.values)
out["plain"] = {"causal_order": [names[k] for k in m.causal_order_], "adjacency": m.adjacency_matrix_.tolist()}
# tiers: the true topological position split into thirds, by column
tier_of = {names[k]: int(list(range(p)).index(perm[k]) * 3 // p) for k in range(p)}
pk = -np.ones((p, p))
for a in range(p):
    for b in range(p):
        if tier_of[names[a]] < tier_of[names[b]]:
            pk[a, b] = 0
m2 = lingam.DirectLiNGAM(prior_knowledge=pk).fit(df.values)
out["tiers"] = {"tiers": tier_of, "causal_order": [names[k] for k in m2.causal_order_], "adjacency": m2.adjacency_matrix_.tolist()}
json.dump(out, open(os.path.join(here, "..", "lingam_reference.json"), "w"), indent=1)
print(out["plain"]["causal_order"], out["tiers"]["causal_order"], true_edges)
