"""Put on PYTHONPATH, makes every Python process started under it (the
evidence script's subprocesses too) see a bare GPU host's packages:
TensorFlow, TFDS and faiss are not there (imports fail as if they were
not installed). test_gpu_evidence runs the dry run so."""

import sys

from tests import no_tensorflow_runner

no_tensorflow_runner.BLOCKED.append("faiss")
sys.meta_path[:] = [no_tensorflow_runner._Hiding(finder)  # pylint: disable=protected-access
                    for finder in sys.meta_path]
