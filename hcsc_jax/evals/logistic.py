"""Logistic regression on frozen features: the linear protocol for small
data sets and label-scarce subsets, where the SGD probe (evals/classifier.py)
over augmented crops is slow and noisy.

Inputs are standardised with the training rows' mean and std; scikit-learn's
multinomial L-BFGS with an L2 penalty (C=1). No augmentation: it reads the
same eval-transform features as kNN.
"""

from __future__ import annotations

import warnings

import numpy as np


def fit_and_score(train: tuple[np.ndarray, np.ndarray],
                  test: tuple[np.ndarray, np.ndarray], c: float = 1.0,
                  max_iter: int = 1000) -> dict[str, float]:
  """Top-1 / top-5 accuracy on `test` of a classifier fit on `train`
  ((features, labels) pairs), and whether L-BFGS converged."""
  from sklearn import exceptions  # pylint: disable=g-import-not-at-top
  from sklearn import linear_model  # pylint: disable=g-import-not-at-top
  x_train, y_train = np.asarray(train[0], np.float64), np.asarray(train[1])
  x_test, y_test = np.asarray(test[0], np.float64), np.asarray(test[1])
  mean = x_train.mean(axis=0)
  std = x_train.std(axis=0)
  std[std == 0] = 1.0
  model = linear_model.LogisticRegression(C=c, max_iter=max_iter)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always", exceptions.ConvergenceWarning)
    model.fit((x_train - mean) / std, y_train)
  converged = not any(issubclass(w.category, exceptions.ConvergenceWarning)
                      for w in caught)
  scores = model.predict_proba((x_test - mean) / std)
  top = model.classes_[np.argsort(-scores, axis=1)[:, :5]]
  return {"top1": float(np.mean(top[:, 0] == y_test)),
          "top5": float(np.mean(np.any(top == y_test[:, None], axis=1))),
          "converged": bool(converged)}
