"""Test setup: CPU only, 8 simulated devices, deterministic."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

# Import order matters: with tensorflow-cpu 2.21 already loaded, importing
# torchvision 0.29 (CUDA build of torch 2.14) segfaults inside triton's
# import. torch first, then anything that pulls in TensorFlow, is fine.
import torch  # pylint: disable=unused-import,g-import-not-at-top,wrong-import-position
import torchvision  # pylint: disable=unused-import,g-import-not-at-top,wrong-import-position
