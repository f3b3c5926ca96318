"""ResNet-18/34/50 in torchvision's v1.5 layout, with HCSC's projection head.

Module names mirror torchvision's state_dict keys (`layer1_0.downsample_0`
is `layer1.0.downsample.0`), so `param_mapping` can translate parameter trees
1:1. Convolutions pad explicitly and symmetrically as PyTorch does: `'SAME'`
pads a stride-2 convolution asymmetrically and would break numerical parity
with exported weights.

BatchNorm statistics are computed over groups of `bn_group_size` examples,
as per-GPU BatchNorm in the reference (8 GPUs x 32), instead of over the whole
global batch that SPMD `jit` would otherwise normalise over.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array
Dtype = Any

# Blocks per stage and whether the block is a bottleneck.
ARCHITECTURES = {
    "resnet18": ((2, 2, 2, 2), False),
    "resnet34": ((3, 4, 6, 3), False),
    "resnet50": ((3, 4, 6, 3), True),
}

# torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu").
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
# torch.nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the weight.
linear_kernel_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_in",
                                                      "uniform")


def linear_bias_init(fan_in: int) -> Callable[..., Array]:
  bound = 1.0 / fan_in**0.5

  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)

  return init


class GroupedBatchNorm(nn.Module):
  """BatchNorm whose training statistics come from groups of examples.

  In training mode the batch is split into consecutive groups of `group_size`
  examples and each group is normalised with its own mean and (biased)
  variance, like per-device BatchNorm; running statistics move towards the
  average of the group means and unbiased group variances (PyTorch's update
  rule). `group_size=None` normalises over the whole batch (synchronised BN).
  """
  group_size: int | None = 32
  momentum: float = 0.9
  epsilon: float = 1e-5
  dtype: Dtype = jnp.float32
  scale_init: Callable[..., Array] = nn.initializers.ones

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    features = x.shape[-1]
    scale = self.param("scale", self.scale_init, (features,), jnp.float32)
    bias = self.param("bias", nn.initializers.zeros, (features,), jnp.float32)
    running_mean = self.variable("batch_stats", "mean", jnp.zeros,
                                 (features,), jnp.float32)
    running_var = self.variable("batch_stats", "var", jnp.ones, (features,),
                                jnp.float32)
    if train:
      batch = x.shape[0]
      group = batch if self.group_size is None else min(self.group_size, batch)
      if batch % group:
        raise ValueError(f"batch of {batch} examples does not split into BN "
                         f"groups of {group}; make the per-step batch a "
                         "multiple of bn_group_size.")
      grouped = x.astype(jnp.float32).reshape((batch // group, group) +
                                              x.shape[1:])
      axes = tuple(range(1, grouped.ndim - 1))
      mean = jnp.mean(grouped, axis=axes, keepdims=True)
      var = jnp.mean(jnp.square(grouped - mean), axis=axes, keepdims=True)
      normalised = ((grouped - mean) * jax.lax.rsqrt(var + self.epsilon)
                    ).reshape(x.shape)
      if not self.is_initializing():
        count = group * (grouped.size // (grouped.shape[0] * group *
                                          features))
        unbiased = var * (count / max(count - 1, 1))
        new_mean = jnp.mean(mean.reshape(-1, features), axis=0)
        new_var = jnp.mean(unbiased.reshape(-1, features), axis=0)
        running_mean.value = (self.momentum * running_mean.value +
                              (1.0 - self.momentum) * new_mean)
        running_var.value = (self.momentum * running_var.value +
                             (1.0 - self.momentum) * new_var)
    else:
      normalised = ((x.astype(jnp.float32) - running_mean.value) *
                    jax.lax.rsqrt(running_var.value + self.epsilon))
    return (normalised * scale + bias).astype(self.dtype)


def _conv(features: int, kernel: int, stride: int, name: str,
          dtype: Dtype) -> nn.Conv:
  pad = (kernel - 1) // 2
  return nn.Conv(features, (kernel, kernel), (stride, stride),
                 padding=((pad, pad), (pad, pad)), use_bias=False,
                 kernel_init=conv_init, dtype=dtype, param_dtype=jnp.float32,
                 name=name)


class BasicBlock(nn.Module):
  """Two 3x3 convolutions (ResNet-18/34)."""
  features: int
  stride: int
  norm: Callable[..., nn.Module]
  dtype: Dtype = jnp.float32
  expansion = 1

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    out = _conv(self.features, 3, self.stride, "conv1", self.dtype)(x)
    out = nn.relu(self.norm(name="bn1")(out, train))
    out = _conv(self.features, 3, 1, "conv2", self.dtype)(out)
    out = self.norm(name="bn2")(out, train)
    return nn.relu(out + _shortcut(self, x, train))


class Bottleneck(nn.Module):
  """1x1 -> 3x3 (strided, v1.5) -> 1x1 convolutions (ResNet-50)."""
  features: int
  stride: int
  norm: Callable[..., nn.Module]
  dtype: Dtype = jnp.float32
  expansion = 4

  @nn.compact
  def __call__(self, x: Array, train: bool) -> Array:
    out = _conv(self.features, 1, 1, "conv1", self.dtype)(x)
    out = nn.relu(self.norm(name="bn1")(out, train))
    out = _conv(self.features, 3, self.stride, "conv2", self.dtype)(out)
    out = nn.relu(self.norm(name="bn2")(out, train))
    out = _conv(self.features * 4, 1, 1, "conv3", self.dtype)(out)
    out = self.norm(name="bn3")(out, train)
    return nn.relu(out + _shortcut(self, x, train))


def _shortcut(block, x: Array, train: bool) -> Array:
  out_features = block.features * block.expansion
  if block.stride == 1 and x.shape[-1] == out_features:
    return x
  projected = _conv(out_features, 1, block.stride, "downsample_0",
                    block.dtype)(x)
  return block.norm(name="downsample_1")(projected, train)


class ResNet(nn.Module):
  """ResNet backbone with an optional head.

  head: "mlp" (HCSC/MoCo v2 projection: Linear -> ReLU -> Linear, output
  L2-normalised; names fc_0 / fc_2), "linear" (a `num_classes`-way fc, as
  torchvision's classifier) or "none". `small_stem` swaps the 7x7/2 conv and
  max-pool for one 3x3/1 conv, for 28-32 px images. `width` is the first
  stage's channel count (64 in torchvision).

  `__call__(x, train, output)`: x is NHWC; output "head" returns the head's
  output, "backbone" the pooled backbone features.
  """
  arch: str = "resnet50"
  width: int = 64
  small_stem: bool = False
  head: str = "mlp"
  embed_dim: int = 128
  num_classes: int = 1000
  bn_group_size: int | None = 32
  dtype: Dtype = jnp.float32

  @property
  def feature_dim(self) -> int:
    _, bottleneck = ARCHITECTURES[self.arch]
    return self.width * 8 * (4 if bottleneck else 1)

  @nn.compact
  def __call__(self, x: Array, train: bool = False,
               output: str = "head") -> Array:
    if self.arch not in ARCHITECTURES:
      raise ValueError(f"arch={self.arch!r} is unknown; choose one of "
                       f"{sorted(ARCHITECTURES)}.")
    if output not in ("head", "backbone"):
      raise ValueError(f"output={output!r}; choose 'head' or 'backbone'.")
    stages, bottleneck = ARCHITECTURES[self.arch]
    block_cls = Bottleneck if bottleneck else BasicBlock
    norm = functools.partial(GroupedBatchNorm, group_size=self.bn_group_size,
                             dtype=self.dtype)
    x = x.astype(self.dtype)
    if self.small_stem:
      x = _conv(self.width, 3, 1, "conv1", self.dtype)(x)
      x = nn.relu(norm(name="bn1")(x, train))
    else:
      x = _conv(self.width, 7, 2, "conv1", self.dtype)(x)
      x = nn.relu(norm(name="bn1")(x, train))
      x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
    for stage, num_blocks in enumerate(stages):
      for index in range(num_blocks):
        stride = 2 if stage > 0 and index == 0 else 1
        x = block_cls(self.width * 2**stage, stride, norm, self.dtype,
                      name=f"layer{stage + 1}_{index}")(x, train)
    features = jnp.mean(x.astype(jnp.float32), axis=(1, 2))
    if output == "backbone" and not self.is_initializing():
      return features
    return self._head(features)

  def _head(self, features: Array) -> Array:
    dense = functools.partial(nn.Dense, dtype=self.dtype,
                              param_dtype=jnp.float32,
                              kernel_init=linear_kernel_init)
    if self.head == "none":
      return features
    if self.head == "linear":
      return dense(self.num_classes, name="fc",
                   bias_init=linear_bias_init(features.shape[-1]))(features)
    if self.head != "mlp":
      raise ValueError(f"head={self.head!r}; choose 'mlp', 'linear' or "
                       "'none'.")
    hidden_dim = features.shape[-1]
    hidden = dense(hidden_dim, name="fc_0",
                   bias_init=linear_bias_init(hidden_dim))(features)
    out = dense(self.embed_dim, name="fc_2",
                bias_init=linear_bias_init(hidden_dim))(nn.relu(hidden))
    out = out.astype(jnp.float32)
    return out / jnp.maximum(jnp.linalg.norm(out, axis=-1, keepdims=True),
                             1e-12)
