"""The demo's train step in PyTorch, as the original code runs it: the
yardstick for our CPU step (`python -m hcsc_jax.benchmark --parts=torch_step`).

Same network (ResNet-18 of width w with the 3x3 stem, BatchNorm over groups
of 32 examples as per-GPU BN, the 2-layer MLP head, L2-normalised output),
same sizes (batch, queue, embedding, three prototype levels) and the same
work per step as the original HCSC/MoCo code on one process: the momentum
update as its per-parameter Python loop, a shuffled key pass without
gradients, the query pass, InfoNCE against the queue with the negatives
selected per query, a prototype cross-entropy per level, SGD with momentum
and weight decay, the enqueue. PyTorch's own kernels in their default NCHW
layout, threads as torch sets them.

It is written for this benchmark, not taken from the original repository
(which needs CUDA and DDP). Two figures: `torch_step` times the step alone
on ready-made float views (our step also cuts and augments its views, so
this one leans in PyTorch's favour); `torch_fed` feeds it as the original
trains, from a DataLoader whose workers cut and augment two views per image
with torchvision's MoCo v2 transforms on the real Fashion-MNIST images.
Needs torch and torchvision (installed for the tests, not dependencies of
the package).
"""

from __future__ import annotations

import copy
import statistics
import time


def _modules():
  """torch and the model classes, built on first use so that importing
  this module does not need torch."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  from torch.nn import functional as F  # pylint: disable=g-import-not-at-top,invalid-name

  class GroupedBatchNorm(nn.BatchNorm2d):
    """Training statistics per group of `group` examples (per-GPU BN)."""

    def __init__(self, channels: int, group: int):
      super().__init__(channels)
      self.group = group

    def forward(self, x):
      if not self.training or x.shape[0] <= self.group:
        return super().forward(x)
      return torch.cat([super(GroupedBatchNorm, self).forward(chunk)
                        for chunk in x.split(self.group)])

  class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, group: int):
      super().__init__()
      self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
      self.bn1 = GroupedBatchNorm(cout, group)
      self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
      self.bn2 = GroupedBatchNorm(cout, group)
      self.downsample = None
      if stride != 1 or cin != cout:
        self.downsample = nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False),
            GroupedBatchNorm(cout, group))

    def forward(self, x):
      out = F.relu(self.bn1(self.conv1(x)))
      out = self.bn2(self.conv2(out))
      shortcut = x if self.downsample is None else self.downsample(x)
      return F.relu(out + shortcut)

  class SmallResNet18(nn.Module):
    """ResNet-18 with the 3x3/1 stem and the MLP projection head."""

    def __init__(self, width: int, embed_dim: int, group: int):
      super().__init__()
      self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
      self.bn1 = GroupedBatchNorm(width, group)
      blocks, cin = [], width
      for stage in range(4):
        cout = width * 2**stage
        for index in range(2):
          blocks.append(Block(cin, cout, 2 if stage and not index else 1,
                              group))
          cin = cout
      self.blocks = nn.Sequential(*blocks)
      self.head = nn.Sequential(nn.Linear(cin, cin), nn.ReLU(),
                                nn.Linear(cin, embed_dim))

    def forward(self, x):
      x = self.blocks(F.relu(self.bn1(self.conv1(x))))
      return F.normalize(self.head(x.mean(dim=(2, 3))), dim=1)

  return torch, F, SmallResNet18


def _fashion_mnist_loader(torch, images, batch: int, size: int, scale,
                          mean, std, workers: int, seed: int):
  """The original's input: two torchvision MoCo v2 views per image, made in
  DataLoader worker processes."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  from torchvision import transforms  # pylint: disable=g-import-not-at-top
  augment = transforms.Compose([
      transforms.RandomResizedCrop(size, scale=scale),
      transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)],
                             p=0.8),
      transforms.RandomGrayscale(p=0.2),
      transforms.RandomHorizontalFlip(),
      transforms.ToTensor(),
      transforms.Normalize(mean, std)])

  class TwoViews(torch.utils.data.Dataset):
    def __len__(self):
      return len(images)

    def __getitem__(self, i):
      image = Image.fromarray(images[i]).convert("RGB")
      return augment(image), augment(image), i

  return torch.utils.data.DataLoader(
      TwoViews(), batch_size=batch, shuffle=True, num_workers=workers,
      drop_last=True, persistent_workers=workers > 0,
      generator=torch.Generator().manual_seed(seed))


def benchmark(width: int = 8, embed_dim: int = 64, batch: int = 128,
              image_size: int = 28, queue_size: int = 4096,
              clusters: tuple[int, ...] = (300, 100, 30),
              group: int = 32, steps: int = 15, warmup: int = 3,
              seed: int = 0, images=None, scale=(0.5, 1.0),
              mean=(0.286,) * 3, std=(0.353,) * 3, workers: int = 2
              ) -> dict[str, float]:
  """The step's median time on fixed views (pairs/s, ms/step) and, given
  `images` (uint8 [N, H, W]), pairs/s over 3x `steps` steps fed by the
  DataLoader (after `warmup` fed steps)."""
  torch, F, SmallResNet18 = _modules()  # pylint: disable=invalid-name
  torch.manual_seed(seed)
  query_net = SmallResNet18(width, embed_dim, group).train()
  key_net = copy.deepcopy(query_net)
  for param in key_net.parameters():
    param.requires_grad = False
  optimizer = torch.optim.SGD(query_net.parameters(), lr=0.06, momentum=0.9,
                              weight_decay=1e-4)
  queue = F.normalize(torch.randn(queue_size, embed_dim), dim=1)
  queue_ptr = 0
  prototypes = [F.normalize(torch.randn(n, embed_dim), dim=1)
                for n in clusters]
  densities = [torch.rand(n) * 0.2 + 0.1 for n in clusters]
  num_examples = 60_000
  labels = [torch.randint(0, n, (num_examples,)) for n in clusters]
  queue_labels = torch.randint(0, clusters[0], (queue_size,))
  views_q = torch.randn(batch, 3, image_size, image_size)
  views_k = torch.randn(batch, 3, image_size, image_size)
  ema = 0.99

  def step(i: int, views_q=views_q, views_k=views_k, index=None) -> float:
    nonlocal queue_ptr
    if index is None:
      index = torch.randint(0, num_examples, (batch,),
                            generator=torch.Generator().manual_seed(i))
    with torch.no_grad():  # the original's momentum update, per parameter
      for param_q, param_k in zip(query_net.parameters(),
                                  key_net.parameters()):
        param_k.data = param_k.data * ema + param_q.data * (1.0 - ema)
      order = torch.randperm(batch)  # shuffled key pass
      keys = key_net(views_k[order])[torch.argsort(order)]
    q = query_net(views_q)
    # Instance term: negatives of the query's own finest cluster removed
    # (HCSC's selection; the original samples them, same cost order).
    l_pos = (q * keys).sum(dim=1, keepdim=True)
    l_neg = q @ queue.T
    same = labels[0][index][:, None] == queue_labels[None, :]
    l_neg = l_neg.masked_fill(same, float("-inf"))
    logits = torch.cat([l_pos, l_neg], dim=1) / 0.2
    loss = F.cross_entropy(logits, torch.zeros(batch, dtype=torch.long))
    for level, centres in enumerate(prototypes):  # prototype terms
      proto_logits = (q @ centres.T) / densities[level]
      loss = loss + F.cross_entropy(proto_logits, labels[level][index]
                                    ) / len(prototypes)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    with torch.no_grad():
      queue[queue_ptr:queue_ptr + batch] = keys
      queue_labels[queue_ptr:queue_ptr + batch] = labels[0][index]
      queue_ptr = (queue_ptr + batch) % queue_size
    return float(loss.detach())

  for i in range(warmup):
    step(i)
  times = []
  for i in range(steps):
    start = time.perf_counter()
    step(100 + i)
    times.append(time.perf_counter() - start)
  median = statistics.median(times)
  results = {"torch_step": batch / median, "torch_step_ms": median * 1e3,
             "torch_threads": float(torch.get_num_threads())}
  if images is not None:
    loader = _fashion_mnist_loader(torch, images, batch, image_size, scale,
                                   mean, std, workers, seed)
    count, done, start = 3 * steps, 0, None
    while done < warmup + count:
      for query, key, index in loader:
        if done == warmup:
          start = time.perf_counter()
        step(done, query, key, index)
        done += 1
        if done == warmup + count:
          break
    results["torch_fed"] = count * batch / (time.perf_counter() - start)
  return results
