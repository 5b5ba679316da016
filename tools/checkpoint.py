"""Resumable training: one checkpoint file holds everything a run depends on.

A run is named by a dictionary of what determines it (its arguments, the
digests of its input files). `Checkpoint.load` returns the saved payload of
that run, refuses a checkpoint of another run in one line (exit 2), and
`Checkpoint.save` writes atomically (a temporary file renamed over the
old), so an interruption at any moment leaves the last complete one.

tests/fmnist.rs and tests/adc_training.rs check that runs stopped and
resumed end on an uninterrupted run's weights, bit for bit.
"""
import hashlib
import pickle
import sys
from pathlib import Path

import jax
import jax.numpy as jnp

# Steps between checkpoints (about a minute of ResNet-20 on 2 cores).
EVERY = 50


def digest(path):
    """The SHA-256 of a file, to tell one run's inputs from another's."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest() if path else None


def to_host(tree):
    """A JAX tree as numpy arrays, to pickle."""
    return jax.device_get(tree)


def to_device(tree):
    return jax.tree_util.tree_map(jnp.asarray, tree)


class Checkpoint:
    def __init__(self, path, run):
        self.path = Path(path) if path else None
        self.run = run

    def load(self):
        """The payload saved for this run, or None (no path, no file yet)."""
        if not self.path or not self.path.exists():
            return None
        with open(self.path, "rb") as f:
            saved = pickle.load(f)
        if saved["run"] != self.run:
            differ = sorted(k for k in set(saved["run"]) | set(self.run) if saved["run"].get(k) != self.run.get(k))
            print(f"{self.path}: a checkpoint of another run (it differs in {', '.join(differ)}): remove it or give another path", file=sys.stderr)
            sys.exit(2)
        return saved["payload"]

    def save(self, payload):
        if not self.path:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            pickle.dump({"run": self.run, "payload": payload}, f)
        tmp.replace(self.path)
