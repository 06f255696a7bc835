"""Feature rows to a numeric matrix: which features carry information, and codes for the categorical ones.

Shared by the tree models (LightGBM, XGBoost): a category never seen in training becomes NaN (missing),
which is also how a model meets a trace whose users or names it never saw (see `unseen_share`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from gpufleet.forecasting.runtime.features import CATEGORICAL, usable_features

# Categories that name things of one trace only: another cluster's user ids say nothing about this one.
TRACE_LOCAL = ("user", "name", "name_token", "group")


@dataclass
class FeatureEncoder:
    """Chosen features and the category codes learned from the training rows."""

    features: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    vocab: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def learn(cls, feats: pl.DataFrame, drop: tuple[str, ...] = ()) -> FeatureEncoder:
        """Keep the features with information (minus `drop`); code each categorical's values in sorted order."""
        used, missing = usable_features(feats.drop([c for c in drop if c in feats.columns]))
        vocab = {
            c: {v: k for k, v in enumerate(sorted(feats[c].drop_nulls().unique().to_list()))}
            for c in used
            if c in CATEGORICAL
        }
        return cls(used, missing, vocab)

    @property
    def categorical(self) -> list[int]:
        """Column positions of the categorical features."""
        return [k for k, c in enumerate(self.features) if c in CATEGORICAL]

    def matrix(self, feats: pl.DataFrame) -> np.ndarray:
        """Float matrix in `features` order; unknown categories and nulls are NaN."""
        cols = []
        for c in self.features:
            if c in CATEGORICAL:
                voc = self.vocab[c]
                cols.append(
                    np.array([voc.get(v, np.nan) if v is not None else np.nan for v in feats[c].to_list()], dtype=float)
                )
            else:
                cols.append(feats[c].cast(pl.Float64).fill_null(np.nan).to_numpy())
        return np.column_stack(cols) if cols else np.empty((feats.height, 0))

    def unseen_share(self, feats: pl.DataFrame) -> dict[str, float]:
        """Per categorical feature: the share of rows with a value that training never saw (1.0 when these
        rows have no values for it at all)."""
        out = {}
        for c, voc in self.vocab.items():
            vals = [v for v in feats[c].to_list() if v is not None] if c in feats.columns else []
            out[c] = (sum(v not in voc for v in vals) / len(vals)) if vals else 1.0
        return out


# The raw column behind each feature (a feature named like the key or starting with it and "_").
RAW_COLUMN = {
    "user": "user",
    "h_user": "user",
    "name": "name",
    "h_name": "name",
    "h_user_name": "name",
    "name_token": "name",
    "gpu_type": "gpu_type",
    "group": "group",
}


def lacking_columns(features: list[str], jobs: pl.DataFrame) -> list[str]:
    """Raw columns the features were built from that these jobs do not have (or have only nulls for)."""
    need = sorted({col for f in features for p, col in RAW_COLUMN.items() if f == p or f.startswith(p + "_")})
    return [c for c in need if c not in jobs.columns or jobs[c].null_count() == jobs.height]
