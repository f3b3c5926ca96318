"""Benchmarks on synthetic data: `python -m hcsc_jax.benchmark`.

Prints one `name=value unit` line per measurement and writes them to a JSON
file. Needs neither TensorFlow nor faiss.

  hcsc_head   ms per step of the HCSC objective alone (selection + losses,
              forward + backward w.r.t. the queries, plus the refresh of the
              cached queue normaliser for the keys the step enqueues) at
              reference sizes: B=256, K=16384, d=128, levels 3000/2000/1000.
  step        image pairs/s of the full sharded train step (momentum update,
              shuffle-BN key pass, query pass, HCSC objective, SGD, enqueue)
              with the hierarchy active; --arch, --image_size, --dtype,
              --no_donate, --device_augment (uint8 views, jitter/gray/blur/
              flip in the step). `step_fed_*` run 3x --steps steps from host
              NumPy batches, timed as a whole: `host` copies each batch just
              before its step, `prefetch` keeps 2 copies in flight.
  embed       images/s of the eval-mode key-encoder pass.
  cluster     seconds of the hierarchical k-means (niter 20, nredo 5) for
              each N in --cluster_sizes and each of --cluster_backends
              (faiss needs faiss; jax runs on the accelerators), on
              L2-normalised points drawn around 1000 random centres.
  label_budget
              seconds to choose which images to label first
              (evals/label_budget.py: prototypes, typical, random) among
              each N of --budget_sizes synthetic --budget_dim features, at
              each of --budget_fractions (the hierarchy the prototypes rule
              reads is given, as HCSC's training leaves it).
  label_round seconds of one round of the labelling loop among each N of
              --budget_sizes synthetic features with --round_labels
              labelled: the neighbour graph, predict's auto predictor,
              and choosing --round_budget more with each rule.
  input       the trainer's TrainData on an official-layout ImageNet of
              photo-like 500x375 JPEGs (~100 KB; generated into
              --input_dir, or from --jpeg_dir) prepared by TFDS, with the
              config's augmentation placement (on the devices for the
              ImageNet configs; --host_augment for the float32 host one):
              pairs/s,
              pairs per CPU-second, host cores per H100; and the eval
              pipeline's images per CPU-second (needs TensorFlow).
  folder      an image folder (--folder, or --folder_images photo-like
              JPEGs of --photo_size generated into --input_dir): the
              decode cache's build (images/s, images per CPU-second, at
              the folder config's preload size; CPU-seconds are the
              decode workers') and the stream path's
              host side (batches gathered from the cache file and copied
              to the devices): pairs/s and pairs per CPU-second. The
              memory path has no host side: its batches are made in the
              step.
  browser     the hierarchy browser (index.html) of --browser_images
              synthetic images in three levels (cluster counts as derived
              for a folder of that size) in headless Chromium (Debian's
              chromium + chromium-driver, selenium): ms to load the page,
              open a top-level cluster, reach the images of a finest
              cluster, go back to the top, and find a file by name.
  torch_step  the demo's step written in PyTorch as the original code runs
              it (`hcsc_jax.benchmark.torch_step`, needs torch and
              torchvision), at --step_config's sizes (default the demo):
              `torch_step` on fixed float views (pairs/s), `torch_fed` fed
              by a DataLoader of --torch_workers processes making
              torchvision MoCo v2 views of Debian's Fashion-MNIST, as the
              original trains.
  paths       a real config's (--config, default the Fashion-MNIST demo)
              train-phase steps/s, hierarchy active, three ways in one
              process: fed by tf.data (`paths_tfdata`, needs TensorFlow and
              the data), made in the step from arrays on the devices
              (`paths_device`), and a fixed device-resident batch
              (`paths_synthetic`); then seconds of the clustering embedding
              pass and of the online kNN (embed train + eval split, kNN)
              for both input paths.
"""

from __future__ import annotations

import argparse
import json
import os
import platform

import jax

from hcsc_jax.benchmark import cluster_part
from hcsc_jax.benchmark import input_parts
from hcsc_jax.benchmark import label_budget_part
from hcsc_jax.benchmark import paths_part
from hcsc_jax.benchmark import step_parts


UNITS = {"hcsc_head": "ms/step", "hcsc_head_first_call": "ms",
         "step": "pairs/s", "step_compile": "s", "step_ms": "ms/step",
         "step_gflop": "GFLOP/step", "step_tflop_per_s": "TFLOP/s", "mfu": "of peak",
         "step_fed_host": "pairs/s", "step_fed_prefetch": "pairs/s",
         "embed": "images/s",
         "input_pairs_per_s": "pairs/s",
         "input_pairs_per_cpu_s": "pairs per CPU-second",
         "input_cores_per_h100": "host cores", "eval_images_per_s": "images/s",
         "eval_images_per_cpu_s": "images per CPU-second",
         "input_mean_kb_per_file": "KB", "paths_tfdata": "steps/s",
         "paths_device": "steps/s", "paths_synthetic": "steps/s",
         "folder_cache_images_per_s": "images/s",
         "folder_cache_images_per_cpu_s": "images per CPU-second",
         "folder_stream_pairs_per_s": "pairs/s",
         "folder_stream_pairs_per_cpu_s": "pairs per CPU-second",
         "browser_page_mb": "MB", "browser_load_ms": "ms",
         "browser_open_cluster_ms": "ms", "browser_back_to_top_ms": "ms",
         "browser_search_ms": "ms", "browser_members_shown": "images",
         "torch_step": "pairs/s", "torch_step_ms": "ms/step",
         "torch_threads": "threads", "torch_fed": "pairs/s"}


BENCHMARKS = {"hcsc_head": step_parts.bench_hcsc_head,
              "step": step_parts.bench_step,
              "cluster": cluster_part.bench_cluster,
              "label_budget": label_budget_part.bench_label_budget,
              "label_round": label_budget_part.bench_label_round,
              "input": input_parts.bench_input,
              "paths": paths_part.bench_paths,
              "folder": input_parts.bench_folder,
              "browser": input_parts.bench_browser,
              "torch_step": step_parts.bench_torch_step}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawTextHelpFormatter)
  parser.add_argument("--parts", default="hcsc_head",
                      help=f"comma-separated subset of {sorted(BENCHMARKS)}")
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--queue", type=int, default=16384)
  parser.add_argument("--dim", type=int, default=128)
  parser.add_argument("--clusters", default="3000,2000,1000")
  parser.add_argument("--num_examples", type=int, default=1_281_167)
  parser.add_argument("--sampler", default="hash",
                      choices=("hash", "threefry"))
  parser.add_argument("--no_cache", action="store_true",
                      help="recompute the K x M queue normaliser every step")
  parser.add_argument("--arch", default="resnet50")
  parser.add_argument("--image_size", type=int, default=224)
  parser.add_argument("--dtype", default="float32",
                      choices=("float32", "bfloat16"))
  parser.add_argument("--no_donate", action="store_true",
                      help="step without donating the old state's buffers")
  parser.add_argument("--device_augment", action="store_true",
                      help="uint8 views augmented inside the step")
  parser.add_argument("--host_augment", action="store_true",
                      help="input part: float32 views augmented on the "
                      "host instead of the config's placement")
  parser.add_argument("--cluster_sizes", default="100000",
                      help="comma-separated N for the cluster part")
  parser.add_argument("--cluster_backends", default="faiss",
                      help="comma-separated k-means backends (faiss, jax)")
  parser.add_argument("--budget_sizes", default="60000,1000000",
                      help="comma-separated N for the label_budget part")
  parser.add_argument("--budget_fractions", default="0.001,0.01",
                      help="label budgets of the label_budget part, as "
                      "fractions of N")
  parser.add_argument("--round_labels", type=int, default=1000,
                      help="labelled images of the label_round part")
  parser.add_argument("--round_budget", type=int, default=100,
                      help="images the label_round part chooses")
  parser.add_argument("--budget_dim", type=int, default=64,
                      help="feature dimension of the label_budget part")
  parser.add_argument("--input_batches", type=int, default=20)
  parser.add_argument("--input_dir", default="/tmp/hcsc_input_benchmark",
                      help="where the input part's ImageNet is generated "
                      "(kept for later runs)")
  parser.add_argument("--input_images", type=int, default=2600,
                      help="training JPEGs the input part generates")
  parser.add_argument("--jpeg_dir", default=None,
                      help="use these JPEGs instead of generated ones")
  parser.add_argument("--input_config", default="configs/hcsc_r50_imagenet.py",
                      help="config whose data/augment blocks the input part "
                      "uses")
  parser.add_argument("--folder", default=None,
                      help="folder part: a folder of images (default: "
                      "generated photo-like JPEGs)")
  parser.add_argument("--folder_images", type=int, default=400,
                      help="folder part: JPEGs to generate")
  parser.add_argument("--photo_size", default="1600x1200",
                      help="folder part: generated JPEGs' WIDTHxHEIGHT")
  parser.add_argument("--folder_config", default="configs/image_folder.py",
                      help="folder part: config file[:variant] (preload "
                      "size, views)")
  parser.add_argument("--browser_images", type=int, default=100_000,
                      help="browser part: images in the hierarchy")
  parser.add_argument("--config", default="configs/fashion_mnist.py",
                      help="config file[:variant] of the paths part")
  parser.add_argument("--paths", default="tfdata,device",
                      help="input paths the paths part compares")
  parser.add_argument("--no_fixed_batch", action="store_true",
                      help="paths: skip timing the device path's step on "
                      "one fixed batch (paths_synthetic; one compilation)")
  parser.add_argument("--step_config", default=None,
                      help="step: a config file[:variant] whose network, "
                      "batch, queue, clusters and image size the step part "
                      "uses (e.g. configs/fashion_mnist.py, the demo)")
  parser.add_argument("--manual_dir", default=None,
                      help="paths: the data set's source files (Fashion-"
                      "MNIST idx files; default: Debian's location).")
  parser.add_argument("--data_dir", default=None,
                      help="TFDS data_dir of the paths part's tf.data path")
  parser.add_argument("--torch_workers", type=int, default=2,
                      help="torch_step: DataLoader worker processes")
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--steps", type=int, default=10)
  parser.add_argument("--output", default="benchmark.json")
  args = parser.parse_args(argv)
  args.clusters = tuple(int(m) for m in args.clusters.split(","))
  parts = [p.strip() for p in args.parts.split(",") if p.strip()]
  unknown = [p for p in parts if p not in BENCHMARKS]
  if unknown:
    parser.error(f"unknown --parts {unknown}; choose from {sorted(BENCHMARKS)}")

  results = {}
  for part in parts:
    for name, value in BENCHMARKS[part](args).items():
      results[name] = value
      unit = UNITS.get(name, "s")
      print(f"{name}={value:.1f} {unit}", flush=True)
  record = {"results": results, "units": UNITS,
            "device": str(jax.devices()[0].device_kind),
            "backend": jax.default_backend(), "jax": jax.__version__,
            "host": platform.node(), "cpu_count": os.cpu_count(),
            "args": {k: v for k, v in vars(args).items()}}
  with open(args.output, "w") as f:
    json.dump(record, f, indent=2)
