"""What the end of a pre-training run reports beyond its kNN: the kNN on
class-balanced subsets of the labels (`knn.label_fractions`, 5 draws, fixed
seeds so every run and variant sees the same subsets) and the same protocol
on the raw pixels (`knn.pixel_baseline`), with `knn.label_selection` the
same fractions labelled where a rule picks (evals/label_budget.py: the
pixels helped by the same rule on their own features), and the final line
that says it:

  final: epochs=6 knn_top1=0.8404 knn_top1@1%=0.7612 (raw pixels 0.7557)
  knn_top1@1%:typical=<x> (raw pixels <y>) wall_s=<s>
"""

from __future__ import annotations

import ml_collections
import numpy as np

from hcsc_jax.evals import chosen_labels
from hcsc_jax.evals import knn
from hcsc_jax.evals import label_scarce

LABEL_DRAWS = 5


def _tag(fraction: float) -> str:
  return f"@{fraction * 100:g}%"


def _protocol(knn_block, fraction: float) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      label_fraction=float(fraction), labels_per_class=0,
      label_draws=LABEL_DRAWS, seed=0, knn=knn_block))


def subset_scores(train, test, knn_block, prefix: str = "knn_top1"
                  ) -> dict:
  """{'knn_top1@1%': mean over draws, 'knn_top1@1%_std': ...,
  'knn_top1@1%_draws': [one value per draw]}."""
  out = {}
  for fraction in tuple(knn_block.label_fractions):
    result = label_scarce.knn_scores(train, test,
                                     _protocol(knn_block, fraction))
    out[f"{prefix}{_tag(fraction)}"] = result["knn_top1"]
    out[f"{prefix}{_tag(fraction)}_std"] = result["knn_top1_std"]
    out[f"{prefix}{_tag(fraction)}_draws"] = list(result["knn_top1_draws"])
  return out


def selected_scores(train, test, config, encoder, dataset, mesh,
                    prefix: str = "knn_top1") -> dict:
  """{'knn_top1@1%:typical': mean over draws, '..._std', '..._draws',
  '..._classes_covered'}: kNN with the `knn.label_selection` rule's images
  as the labelled ones, at each of `knn.label_fractions`. `encoder` is an
  evals.encoder.Encoder (its hierarchy read by 'prototypes'), or None for
  the raw pixels."""
  strategy = config.knn.get("label_selection", "")
  out = {}
  if not strategy:
    return out
  for fraction in tuple(config.knn.label_fractions):
    cfg = _protocol(config.knn, fraction)
    cfg.label_selection = strategy
    cfg.data = config.data
    cfg.batch_size = config.embed_batch_size
    draws, record = chosen_labels.draws(cfg, train, encoder, dataset, mesh,
                                        config)
    result = label_scarce.knn_scores(train, test, cfg, draws)
    key = f"{prefix}{_tag(fraction)}:{strategy}"
    out[key] = result["knn_top1"]
    out[f"{key}_std"] = result["knn_top1_std"]
    out[f"{key}_draws"] = list(result["knn_top1_draws"])
    out[f"{key}_classes_covered"] = record["classes_covered"]
  return out


def pixel_baseline(train, test, knn_block, encoder: dict | None = None,
                   selected: dict | None = None) -> dict:
  """The same kNN figures for the raw (normalised) pixels; with the
  encoder's `subset_scores`, also encoder - pixels paired over the draws
  ('knn_top1@1%_minus_pixels' and its '_std'): both see the same subsets,
  so the pairing removes the spread the draws share."""
  out = {"knn_pixels_top1": float(knn.score(train, test,
                                            knn_block)["knn_top1"])}
  out.update(subset_scores(train, test, knn_block,
                           prefix="knn_pixels_top1"))
  out.update(selected or {})
  for key, ours in (encoder or {}).items():
    if not key.endswith("_draws"):
      continue
    theirs = out[key.replace("knn_top1", "knn_pixels_top1")]
    differences = np.subtract(ours, theirs)
    stem = key[:-len("_draws")] + "_minus_pixels"
    out[stem] = float(np.mean(differences))
    out[stem + "_std"] = (float(np.std(differences, ddof=1))
                          if len(differences) > 1 else 0.0)
  return out


def scalars(results: dict) -> dict[str, float]:
  """The numbers among `results` (per-draw lists are kept in the summary,
  not logged as metrics)."""
  return {k: v for k, v in results.items()
          if isinstance(v, (int, float, np.floating, np.integer))}


def final_line(summary: dict) -> str:
  """`final: epochs=E knn_top1=x [knn_top1@1%=y (raw pixels z)] wall_s=s`."""
  parts = [f"final: epochs={summary['epochs']}",
           f"knn_top1={summary.get('knn_top1', float('nan')):.4f}"]
  for key, value in summary.items():
    if key.startswith("knn_top1@") and not key.endswith(
        ("_std", "_draws", "_minus_pixels", "_classes_covered")):
      part = f"{key}={value:.4f}"
      pixels = summary.get(key.replace("knn_top1", "knn_pixels_top1"))
      if pixels is not None and np.isfinite(pixels):
        part += f" (raw pixels {pixels:.4f})"
      parts.append(part)
  parts.append(f"wall_s={summary['wall_s']:.0f}")
  return " ".join(parts)
