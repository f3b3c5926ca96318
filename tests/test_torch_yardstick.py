"""The PyTorch yardstick of the CPU step: the same network as ours, and the
benchmark part reports what ran."""

import json

import jax
import jax.numpy as jnp
import numpy as np

from hcsc_jax.benchmark import run as benchmark
from hcsc_jax import models
from hcsc_jax.benchmark import torch_step


def _shapes(tree):
  return sorted(tuple(np.shape(x)) for x in jax.tree.leaves(tree))


def test_the_yardstick_network_is_ours():
  """Same parameter shapes (convolutions, BN, head) and the same buffers:
  the comparison is between two implementations of one network."""
  torch, _, small_resnet18 = torch_step._modules()  # pylint: disable=protected-access
  net = small_resnet18(8, 64, 32)
  ours = models.ResNet(arch="resnet18", width=8, small_stem=True,
                       embed_dim=64, bn_group_size=32)
  variables = ours.init(jax.random.key(0), jnp.zeros((2, 28, 28, 3)))
  # torch keeps convolution kernels OIHW and linear weights (out, in).
  def as_ours(name, shape):
    if len(shape) == 4:
      return (shape[2], shape[3], shape[1], shape[0])
    if len(shape) == 2:
      return (shape[1], shape[0])
    return tuple(shape)
  theirs = sorted(as_ours(n, tuple(p.shape))
                  for n, p in net.named_parameters())
  assert theirs == _shapes(variables["params"])
  buffers = sorted(tuple(b.shape) for n, b in net.named_buffers()
                   if not n.endswith("num_batches_tracked"))
  assert buffers == _shapes(variables["batch_stats"])
  # Grouped BN: the four groups of 32 are normalised separately.
  x = torch.randn(128, 3, 28, 28)
  x[:32] *= 10.0
  with torch.no_grad():
    stem = net.bn1(net.conv1(x))
  for group in stem.split(32):
    assert abs(float(group.mean())) < 1e-4


def test_the_torch_part_reports_what_ran(idx_source, tmp_path):
  output = tmp_path / "bench.json"
  benchmark.main(["--parts=torch_step", f"--manual_dir={idx_source}",
                  "--step_config=configs/fashion_mnist.py:smoke",
                  "--steps=2", "--warmup=1", "--torch_workers=0",
                  f"--output={output}"])
  results = json.loads(output.read_text())["results"]
  for name in ("torch_step", "torch_step_ms", "torch_fed"):
    assert results[name] > 0, name
