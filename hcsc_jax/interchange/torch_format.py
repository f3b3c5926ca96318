"""The PyTorch side of interchange (docs/method.md §8): reference HCSC/MoCo
checkpoints, torchvision and detectron2 state dicts, safetensors.

Everything is built from NumPy arrays through `param_mapping`; torch itself is
imported only to read or write `.pth` files, and files are only ever read with
`torch.load(..., weights_only=True)`, which refuses pickled objects other than
tensors and plain containers.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np

from hcsc_jax.interchange import param_mapping

QUERY_PREFIX = "module.encoder_q."
KEY_PREFIX = "module.encoder_k."
QUEUE_KEY = "module.queue"
QUEUE_PTR_KEY = "module.queue_ptr"
HEAD_PREFIX = "fc."


def _variables(params, batch_stats) -> dict[str, Any]:
  return {"params": params, "batch_stats": batch_stats}


def backbone_state_dict(params, batch_stats,
                        num_batches_tracked: int = 0) -> dict[str, np.ndarray]:
  """torchvision resnet keys of the backbone (no `fc`)."""
  full = param_mapping.to_torch_state_dict(_variables(params, batch_stats),
                                           num_batches_tracked)
  return {k: v for k, v in full.items() if not k.startswith(HEAD_PREFIX)}


def reference_state_dict(state, num_batches_tracked: int = 0
                         ) -> dict[str, np.ndarray]:
  """`module.encoder_q.*`, `module.encoder_k.*`, queue as d x K, pointer."""
  out = {}
  for prefix, params, stats in (
      (QUERY_PREFIX, state.params, state.batch_stats),
      (KEY_PREFIX, state.key_params, state.key_batch_stats)):
    for key, value in param_mapping.to_torch_state_dict(
        _variables(params, stats), num_batches_tracked).items():
      out[prefix + key] = value
  out[QUEUE_KEY] = np.ascontiguousarray(np.asarray(state.queue, np.float32).T)
  out[QUEUE_PTR_KEY] = np.asarray([int(state.queue_ptr)], np.int64)
  return out


def detectron2_name(torchvision_key: str) -> str:
  """torchvision ResNet key -> detectron2 ResNet key (MoCo's conversion
  rule: stem.*, res2..res5, convN.norm, shortcut / shortcut.norm)."""
  key = torchvision_key
  if "layer" not in key:
    key = "stem." + key
  for stage in (1, 2, 3, 4):
    key = key.replace(f"layer{stage}", f"res{stage + 1}")
  for index in (1, 2, 3):
    key = key.replace(f"bn{index}", f"conv{index}.norm")
  key = key.replace("downsample.0", "shortcut")
  return key.replace("downsample.1", "shortcut.norm")


def detectron2_checkpoint(params, batch_stats) -> dict[str, Any]:
  model = {detectron2_name(k): v
           for k, v in backbone_state_dict(params, batch_stats).items()
           if not k.endswith(param_mapping.NUM_BATCHES_TRACKED)}
  return {"model": model, "__author__": "hcsc_jax",
          "matching_heuristics": True}


def import_torch():
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise RuntimeError("PyTorch is needed for .pth files: pip install "
                       "torch (the CPU build is enough).") from None
  return torch


def save_pth(path: str, record: Mapping[str, Any]) -> None:
  """Saves nested dicts of NumPy arrays as torch tensors."""
  torch = import_torch()

  def convert(value):
    if isinstance(value, np.ndarray):
      return torch.from_numpy(np.array(value, copy=True))
    if isinstance(value, Mapping):
      return {k: convert(v) for k, v in value.items()}
    return value

  torch.save(convert(record), path)


def load_pth(path: str) -> dict[str, Any]:
  """Reads a .pth safely; tensors come back as NumPy arrays."""
  torch = import_torch()
  try:
    record = torch.load(path, map_location="cpu", weights_only=True)
  except FileNotFoundError:
    raise FileNotFoundError(f"{path} does not exist.") from None
  except Exception as e:  # pylint: disable=broad-except
    message = str(e).splitlines()[0] if str(e) else type(e).__name__
    if "weights_only" in str(e) or "Unsupported global" in str(e):
      raise ValueError(
          f"{path} holds pickled objects other than tensors and plain "
          f"containers; refusing to unpickle it ({message}).") from None
    raise ValueError(f"{path} is not a readable PyTorch file (truncated or "
                     f"corrupt?): {message}") from None

  def convert(value):
    if isinstance(value, torch.Tensor):
      return value.detach().cpu().numpy()
    if isinstance(value, Mapping):
      return {k: convert(v) for k, v in value.items()}
    return value

  if not isinstance(record, Mapping):
    raise ValueError(f"{path} holds a {type(record).__name__}, not a dict of "
                     "tensors.")
  return convert(record)


def split_checkpoint(record: Mapping[str, Any], path: str) -> dict[str, Any]:
  """Recognises a reference checkpoint or a plain torchvision state dict.

  Returns {'query': state dict, 'key': state dict or None, 'queue': [K, d] or
  None, 'queue_ptr': int or None, 'epoch': int, 'arch': str or None}.
  """
  state_dict = record.get("state_dict", record)
  if not isinstance(state_dict, Mapping) or not state_dict:
    raise ValueError(f"{path} has no state_dict.")
  keys = list(state_dict)
  if any(k.startswith(QUERY_PREFIX) for k in keys):
    query = {k[len(QUERY_PREFIX):]: v for k, v in state_dict.items()
             if k.startswith(QUERY_PREFIX)}
    key = {k[len(KEY_PREFIX):]: v for k, v in state_dict.items()
           if k.startswith(KEY_PREFIX)} or None
    queue = state_dict.get(QUEUE_KEY)
    pointer = state_dict.get(QUEUE_PTR_KEY)
    return {"query": query, "key": key,
            "queue": None if queue is None else np.asarray(queue).T,
            "queue_ptr": None if pointer is None else int(np.ravel(pointer)[0]),
            "epoch": int(record.get("epoch", 0)),
            "arch": record.get("arch")}
  stripped = {re.sub(r"^module\.", "", k): v for k, v in state_dict.items()}
  if "conv1.weight" not in stripped:
    raise ValueError(f"{path} is neither a reference HCSC/MoCo checkpoint "
                     "(module.encoder_q.* keys) nor a torchvision ResNet state "
                     f"dict (conv1.weight); first key: {keys[0]!r}.")
  return {"query": stripped, "key": None, "queue": None, "queue_ptr": None,
          "epoch": int(record.get("epoch", 0)) if "state_dict" in record
          else 0, "arch": record.get("arch")}
