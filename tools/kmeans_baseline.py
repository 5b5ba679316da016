#!/usr/bin/env python3
"""scikit-learn KMeans on the vectors examples/pool_bench.rs wrote, with the
same cluster count and iteration count (tol = 0, one k-means++ init), for
the pool-construction benchmark. Usage: kmeans_baseline.py FILE.npy K ITERATIONS"""
import sys
import time

import numpy as np
from sklearn.cluster import KMeans

data = np.load(sys.argv[1])
k, iterations = int(sys.argv[2]), int(sys.argv[3])
start = time.perf_counter()
km = KMeans(n_clusters=k, init="k-means++", n_init=1, max_iter=iterations, tol=0.0, algorithm="lloyd", random_state=1).fit(data)
elapsed = time.perf_counter() - start
print(f"sklearn  KMeans (lloyd):     {elapsed:6.2f} s, {km.n_iter_} iterations, inertia {km.inertia_:.1f}")
