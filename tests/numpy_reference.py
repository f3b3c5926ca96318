"""Float64 NumPy implementations of docs/method.md §2-4, written from the
formulas and independently of the JAX code (loops where they make the formula plain)."""

import numpy as np


def softmax(x, axis):
  x = x - x.max(axis=axis, keepdims=True)
  e = np.exp(x)
  return e / e.sum(axis=axis, keepdims=True)


def instance_keep_probs(queue, centroids, temperatures, labels):
  queue, centroids = np.float64(queue), np.float64(centroids)
  temps = np.maximum(np.float64(temperatures), 1e-3)
  posterior = softmax(queue @ centroids.T / temps[None, :], axis=1)  # [K, M]
  probs = np.empty((len(labels), queue.shape[0]))
  for n, c in enumerate(labels):
    probs[n] = np.clip(1.0 - posterior[:, c], 0.0, 0.999)
  return probs


def prototype_keep_probs(child_parent_logits, upper_temperatures,
                         parent_labels, tau=0.2):
  upper = np.float64(upper_temperatures)
  rescaled = tau * upper / upper.mean()
  posterior = softmax(np.float64(child_parent_logits) / rescaled[None, :], 1)
  probs = np.empty((len(parent_labels), posterior.shape[0]))
  for n, p in enumerate(parent_labels):
    probs[n] = np.clip(1.0 - posterior[:, p], 1e-4, 0.999)
  return probs


def _log_sum_exp(values):
  values = np.asarray(values, np.float64)
  top = values.max()
  return top + np.log(np.sum(np.exp(values - top)))


def info_nce(q, k, queue, keep_mask=None, tau=0.2, masking="zero"):
  q, k, queue = np.float64(q), np.float64(k), np.float64(queue)
  out = np.empty(q.shape[0])
  for n in range(q.shape[0]):
    positive = q[n] @ k[n] / tau
    logits = [positive]
    for j in range(queue.shape[0]):
      kept = True if keep_mask is None else bool(keep_mask[n, j])
      if kept:
        logits.append(q[n] @ queue[j] / tau)
      elif masking == "zero":
        logits.append(0.0)
    out[n] = _log_sum_exp(logits) - positive
  return out


def proto_nce(q, centroids, temperatures, labels, candidate_mask,
              keep_mask=None, masking="zero"):
  q, centroids = np.float64(q), np.float64(centroids)
  temps = np.float64(temperatures)
  out = np.empty(q.shape[0])
  for n in range(q.shape[0]):
    c = labels[n]
    positive = q[n] @ centroids[c] / temps[c]
    logits = [positive]
    for j in range(centroids.shape[0]):
      if j == c or not candidate_mask[n, j]:
        continue
      kept = True if keep_mask is None else bool(keep_mask[n, j])
      if kept:
        logits.append(q[n] @ centroids[j] / temps[j])
      elif masking == "zero":
        logits.append(0.0)
    out[n] = _log_sum_exp(logits) - positive
  return out


def candidate_mask(labels, num_prototypes, rule):
  mask = np.ones((len(labels), num_prototypes), bool)
  for n, c in enumerate(labels):
    if rule == "self":
      mask[n, c] = False
    else:
      mask[n, sorted(set(int(x) for x in labels))] = False
  return mask


def hcsc_loss(q, k, queue, hierarchy, indices, instance_masks, proto_masks,
              *, tau=0.2, masking="zero", level_reduction="sum",
              candidates="batch", local_q=(), local_instance_masks=None,
              local_proto_masks=None):
  """Total HCSC loss with given selection masks.

  instance_masks[l] [B, K]; proto_masks[l] [B, M_l] or None (top level).
  local_*_masks[v][l] likewise for each local view (instance ones only used
  when given, i.e. when local instance selection is on).
  """
  levels = len(hierarchy.centroids)
  labels = [np.asarray(a)[indices] for a in hierarchy.assignments]

  def icsc(view, masks):
    per_level = [info_nce(view, k, queue, masks[l], tau, masking).mean()
                 for l in range(levels)]
    return sum(per_level) / (levels if level_reduction == "mean" else 1)

  def pcsc_sum(view, masks):
    total = 0.0
    for l in range(levels):
      cand = candidate_mask(labels[l], len(hierarchy.centroids[l]),
                            candidates)
      total += proto_nce(view, hierarchy.centroids[l],
                         hierarchy.temperatures[l], labels[l], cand,
                         masks[l], masking).mean()
    return total

  loss = icsc(q, instance_masks) + pcsc_sum(q, proto_masks) / levels
  for v, view in enumerate(local_q):
    if local_instance_masks is None:
      loss += info_nce(view, k, queue, None, tau).mean()
    else:
      loss += icsc(view, local_instance_masks[v])
    loss += pcsc_sum(view, local_proto_masks[v]) / levels
  return loss


def concentration(distances, assignments, num_clusters, tau):
  """PCL's temperature estimate with an explicit loop over clusters."""
  members = {i: [] for i in range(num_clusters)}
  for a, d in zip(assignments, distances):
    members[int(a)].append(float(d))
  phi = np.zeros(num_clusters)
  for i, dists in members.items():
    if len(dists) > 1:
      phi[i] = np.mean(np.sqrt(dists)) / np.log(len(dists) + 10)
  top = phi.max()
  for i, dists in members.items():
    if len(dists) <= 1:
      phi[i] = top
  phi = np.clip(phi, np.percentile(phi, 10), np.percentile(phi, 90))
  return tau * phi / phi.mean()


def numerical_gradient(f, x, eps=1e-6):
  x = np.array(x, np.float64)
  grad = np.zeros_like(x)
  for idx in np.ndindex(x.shape):
    plus, minus = x.copy(), x.copy()
    plus[idx] += eps
    minus[idx] -= eps
    grad[idx] = (f(plus) - f(minus)) / (2 * eps)
  return grad
