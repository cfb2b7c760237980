"""A fitted tree ensemble as plain arrays, so that a model file is data and never code.

scikit-learn's own persistence is pickle, and unpickling runs whatever the file says. A RUL model
only needs its trees to predict, so ``save_model`` keeps the trees as arrays (one row per node) and
predicts with them here. The traversal is the one scikit-learn does, so predictions are identical:

* histogram gradient boosting: baseline + the sum of the trees' leaf values, features as float64;
* random forest: the mean of the trees' leaf values, features rounded to float32 first (sklearn's
  trees compare float32 inputs with float64 thresholds);
* a missing value (NaN) goes where the node learnt to send missing values.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from agents.errors import ModelError


class Combine(StrEnum):
    SUM = "sum"  # boosting: baseline + sum of trees
    MEAN = "mean"  # forest: mean of trees


#: The arrays of a ``TreeEnsemble`` and the dtype each is stored with.
NODE_ARRAYS: dict[str, type] = {
    "feature": np.int64,
    "threshold": np.float64,
    "left": np.int64,  # index within the tree; -1 on leaves
    "right": np.int64,
    "value": np.float64,
    "missing_left": np.bool_,
    "tree_start": np.int64,  # tree i's nodes are [tree_start[i], tree_start[i + 1])
}


@dataclass(frozen=True)
class TreeEnsemble:
    """Trees of axis-aligned splits ``x[feature] <= threshold`` -> left; predicts a float per row."""

    combine: Combine
    baseline: float
    float32_inputs: bool
    n_features: int
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    missing_left: np.ndarray
    tree_start: np.ndarray

    @property
    def n_trees(self) -> int:
        return len(self.tree_start) - 1

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in NODE_ARRAYS}

    def meta(self) -> dict[str, Any]:
        return {
            "combine": self.combine.value,
            "baseline": self.baseline,
            "float32_inputs": self.float32_inputs,
            "n_features": self.n_features,
        }

    @classmethod
    def from_data(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> TreeEnsemble:
        """Rebuild from ``meta()`` and ``arrays()``; every index is checked, so a damaged file
        is a ``ModelError`` and never an out-of-bounds read or an endless walk."""
        try:
            combine = Combine(meta["combine"])
            baseline = float(meta["baseline"])
            float32_inputs = bool(meta["float32_inputs"])
            n_features = int(meta["n_features"])
            typed = {
                name: np.asarray(arrays[name]).astype(dt, casting="safe")
                for name, dt in NODE_ARRAYS.items()
            }
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"tree ensemble: missing or mistyped part ({exc})") from None
        n_nodes = len(typed["feature"])
        starts = typed["tree_start"]
        if any(typed[name].shape != (n_nodes,) for name in NODE_ARRAYS if name != "tree_start"):
            raise ModelError("tree ensemble: node arrays of different lengths")
        if (
            starts.ndim != 1
            or len(starts) < 2
            or starts[0] != 0
            or starts[-1] != n_nodes
            or np.any(np.diff(starts) <= 0)
        ):
            raise ModelError("tree ensemble: tree offsets do not cover the nodes")
        counts = np.diff(starts)
        size = np.repeat(counts, counts)  # the size of each node's tree
        local = np.arange(n_nodes) - np.repeat(starts[:-1], counts)  # index within its tree
        inner = typed["left"] >= 0
        for side in ("left", "right"):
            child = typed[side][inner]
            # A child comes after its parent and inside the tree: every walk ends at a leaf.
            if np.any(child <= local[inner]) or np.any(child >= size[inner]):
                raise ModelError(f"tree ensemble: a {side} child points outside its tree")
        leaf = ~inner
        if np.any(typed["right"][leaf] >= 0):
            raise ModelError("tree ensemble: a leaf has a right child")
        if np.any((typed["feature"][~leaf] < 0) | (typed["feature"][~leaf] >= n_features)):
            raise ModelError("tree ensemble: a split on a feature the model does not have")
        return cls(combine, baseline, float32_inputs, n_features, **typed)

    def predict(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ModelError(
                f"tree ensemble: expected rows of {self.n_features} features, got shape {x.shape}"
            )
        if self.float32_inputs:
            x = x.astype(np.float32).astype(np.float64)
        rows = np.arange(len(x))
        out = np.zeros(len(x))
        out += self.baseline
        for t in range(self.n_trees):
            base = int(self.tree_start[t])
            node = np.full(len(x), base)
            while True:
                inner = self.left[node] >= 0
                if not inner.any():
                    break
                at = node[inner]
                v = x[rows[inner], self.feature[at]]
                go_left = np.where(np.isnan(v), self.missing_left[at], v <= self.threshold[at])
                node[inner] = base + np.where(go_left, self.left[at], self.right[at])
            out += self.value[node]
        if self.combine is Combine.MEAN:
            out /= self.n_trees
        return out


def from_sklearn(estimator: Any) -> TreeEnsemble:
    """The trees of a fitted ``HistGradientBoostingRegressor`` or ``RandomForestRegressor``."""
    from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor

    parts: dict[str, list[np.ndarray]] = {name: [] for name in NODE_ARRAYS if name != "tree_start"}
    if isinstance(estimator, HistGradientBoostingRegressor):
        for per_iteration in estimator._predictors:
            (predictor,) = per_iteration  # one tree per iteration for a single-output regressor
            nodes = predictor.nodes
            if np.any(nodes["is_categorical"]):
                raise ModelError("tree ensemble: categorical splits are not supported")
            leaf = nodes["is_leaf"].astype(bool)
            parts["feature"].append(np.where(leaf, 0, nodes["feature_idx"]))
            parts["threshold"].append(nodes["num_threshold"])
            parts["left"].append(np.where(leaf, -1, nodes["left"].astype(np.int64)))
            parts["right"].append(np.where(leaf, -1, nodes["right"].astype(np.int64)))
            parts["value"].append(nodes["value"])
            parts["missing_left"].append(nodes["missing_go_to_left"].astype(bool))
        combine, baseline, f32 = (
            Combine.SUM,
            float(np.ravel(estimator._baseline_prediction)[0]),
            False,
        )
    elif isinstance(estimator, RandomForestRegressor):
        for tree in estimator.estimators_:
            t = tree.tree_
            leaf = t.children_left < 0
            parts["feature"].append(np.where(leaf, 0, t.feature))
            parts["threshold"].append(t.threshold)
            parts["left"].append(np.where(leaf, -1, t.children_left))
            parts["right"].append(np.where(leaf, -1, t.children_right))
            parts["value"].append(t.value[:, 0, 0])
            parts["missing_left"].append(t.missing_go_to_left.astype(bool))
        combine, baseline, f32 = Combine.MEAN, 0.0, True
    else:
        raise ModelError(f"tree ensemble: cannot export a {type(estimator).__name__}")
    sizes = [len(a) for a in parts["value"]]
    arrays = {
        name: np.concatenate(chunks).astype(NODE_ARRAYS[name]) for name, chunks in parts.items()
    }
    arrays["tree_start"] = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return TreeEnsemble(combine, baseline, f32, int(estimator.n_features_in_), **arrays)
