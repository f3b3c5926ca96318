"""ResNet layout, parameter count, grouped BatchNorm, torchvision parity."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torchvision

from hcsc_jax.interchange import param_mapping
from hcsc_jax import models


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree.leaves(tree))


def _abstract_init(model, size=224):
  return jax.eval_shape(lambda: model.init(jax.random.key(0),
                                           jnp.zeros((2, size, size, 3))))


def test_resnet50_has_torchvision_parameter_count():
  variables = _abstract_init(models.ResNet("resnet50", head="linear"))
  assert _count(variables["params"]) == 25_557_032
  reference = torchvision.models.resnet50()
  assert _count(variables["params"]) == sum(
      p.numel() for p in reference.parameters())


@pytest.mark.parametrize("arch, feature_dim", [
    ("resnet18", 512), ("resnet34", 512), ("resnet50", 2048)])
def test_output_shapes(arch, feature_dim):
  model = models.ResNet(arch, embed_dim=128)
  variables = _abstract_init(model)
  head = jax.eval_shape(lambda v, x: model.apply(v, x),
                        variables, jnp.zeros((4, 224, 224, 3)))
  backbone = jax.eval_shape(lambda v, x: model.apply(v, x, output="backbone"),
                            variables, jnp.zeros((4, 224, 224, 3)))
  assert head.shape == (4, 128) and backbone.shape == (4, feature_dim)
  assert model.feature_dim == feature_dim
  assert variables["params"]["fc_0"]["kernel"].shape == (feature_dim,
                                                         feature_dim)


def test_small_stem_and_width():
  model = models.ResNet("resnet18", width=16, small_stem=True, embed_dim=32,
                        bn_group_size=4)
  variables = model.init(jax.random.key(0), jnp.zeros((8, 28, 28, 3)))
  assert variables["params"]["conv1"]["kernel"].shape == (3, 3, 3, 16)
  out, _ = model.apply(variables, jnp.ones((8, 28, 28, 3)), train=True,
                       mutable=["batch_stats"])
  assert out.shape == (8, 32)
  np.testing.assert_allclose(jnp.linalg.norm(out, axis=1), 1.0, rtol=1e-5)


def test_grouped_batchnorm_normalises_each_group_on_its_own():
  x = jax.random.normal(jax.random.key(0), (12, 3, 3, 5)) * 3 + 1
  bn = models.GroupedBatchNorm(group_size=4)
  variables = bn.init(jax.random.key(1), x, train=True)
  out, updates = bn.apply(variables, x, train=True, mutable=["batch_stats"])
  xs = np.asarray(x, np.float64).reshape(3, 4, 3, 3, 5)
  mean = xs.mean(axis=(1, 2, 3), keepdims=True)
  var = xs.var(axis=(1, 2, 3), keepdims=True)
  want = ((xs - mean) / np.sqrt(var + 1e-5)).reshape(x.shape)
  np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-4)
  unbiased = var.reshape(3, 5) * 36 / 35
  np.testing.assert_allclose(updates["batch_stats"]["mean"],
                             0.1 * mean.reshape(3, 5).mean(0), rtol=1e-5)
  np.testing.assert_allclose(updates["batch_stats"]["var"],
                             0.9 + 0.1 * unbiased.mean(0), rtol=1e-5)
  # Changing one group leaves the other groups' outputs untouched.
  x2 = x.at[:4].multiply(10.0)
  out2, _ = bn.apply(variables, x2, train=True, mutable=["batch_stats"])
  np.testing.assert_allclose(out2[4:], out[4:], rtol=1e-6)
  with pytest.raises(ValueError, match="bn_group_size"):
    bn.apply(variables, x[:10], train=True, mutable=["batch_stats"])


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_keys_match_torchvision(arch):
  variables = _abstract_init(models.ResNet(arch, head="linear"))
  ours = param_mapping.to_torch_state_dict(
      jax.tree.map(lambda s: np.zeros(s.shape, np.float32), variables))
  theirs = getattr(torchvision.models, arch)().state_dict()
  assert set(ours) == set(theirs)
  for key, value in theirs.items():
    assert ours[key].shape == tuple(value.shape), key


def test_projection_head_keys_are_reference_names():
  variables = _abstract_init(models.ResNet("resnet18", embed_dim=128), 64)
  keys = param_mapping.to_torch_state_dict(
      jax.tree.map(lambda s: np.zeros(s.shape, np.float32), variables))
  assert {k for k in keys if k.startswith("fc")} == {
      "fc.0.weight", "fc.0.bias", "fc.2.weight", "fc.2.bias"}
  assert keys["fc.2.weight"].shape == (128, 512)


def _randomised_torchvision(arch, seed):
  torch.manual_seed(seed)
  net = getattr(torchvision.models, arch)()
  with torch.no_grad():
    for module in net.modules():
      if isinstance(module, torch.nn.BatchNorm2d):
        module.running_mean.uniform_(-0.5, 0.5)
        module.running_var.uniform_(0.5, 2.0)
        module.weight.uniform_(0.5, 1.5)
        module.bias.uniform_(-0.2, 0.2)
  return net.eval()


@pytest.mark.parametrize("arch, size", [("resnet18", 64), ("resnet50", 48)])
def test_eval_outputs_match_torchvision(arch, size):
  """Same weights, same input: symmetric padding and layouts are right."""
  net = _randomised_torchvision(arch, 0)
  model = models.ResNet(arch, head="linear")
  template = jax.tree.map(lambda s: np.zeros(s.shape, np.float32),
                          _abstract_init(model, size))
  state = {k: v.numpy() for k, v in net.state_dict().items()}
  variables = param_mapping.from_torch_state_dict(state, template)
  images = np.random.default_rng(0).normal(size=(2, size, size, 3))
  images = images.astype(np.float32)
  with torch.no_grad():
    want = net(torch.from_numpy(images.transpose(0, 3, 1, 2))).numpy()
  got = np.asarray(model.apply(variables, images))
  rel = np.abs(got - want).max() / np.abs(want).max()
  assert rel < 1e-4
  # And back again, bit-exact.
  again = param_mapping.to_torch_state_dict(variables)
  assert set(again) == set(state)
  for key, value in state.items():
    if not key.endswith("num_batches_tracked"):
      np.testing.assert_array_equal(again[key], value)


def test_mapping_rejects_wrong_architecture():
  template = jax.tree.map(
      lambda s: np.zeros(s.shape, np.float32),
      _abstract_init(models.ResNet("resnet18", head="linear"), 64))
  state50 = {k: v.numpy() for k, v in
             torchvision.models.resnet50().state_dict().items()}
  with pytest.raises(ValueError, match="'fc.weight' has shape"):
    param_mapping.from_torch_state_dict(state50, template)
  state18 = {k: v.numpy() for k, v in
             torchvision.models.resnet18().state_dict().items()}
  state18["extra.weight"] = np.zeros(1, np.float32)
  with pytest.raises(ValueError, match="extra.weight"):
    param_mapping.from_torch_state_dict(state18, template)
  del state18["extra.weight"], state18["bn1.running_var"]
  with pytest.raises(ValueError, match="bn1.running_var"):
    param_mapping.from_torch_state_dict(state18, template)


def test_unknown_arch_raises():
  with pytest.raises(ValueError, match="arch"):
    models.ResNet("resnet7").init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
