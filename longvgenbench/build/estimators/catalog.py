"""Weight files of the learned builder estimators, for the weights registry (``longvgenbench.weights``).

Each model is a Hugging Face folder (config + weights + processor files). A folder is found either
in ``$LONGVGENBENCH_CACHE/weights/<folder>/`` (what ``longvgenbench weights fetch KEY`` fills) or as
the Hugging Face cache's snapshot of the pinned revision. Revisions: commit hashes taken from public
records of these repositories (not checked against the Hub from this workplace, which has no Hub
access); sha256 / sizes are unknown here, so the files are reported as unpinned by hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from longvgenbench import weights
from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.weights import HubSource, WeightFile


@dataclass(frozen=True)
class ModelFolder:
    """A transformers model folder: the files that must all be present, under one local folder name."""

    name: str
    repo_id: str
    revision: str
    licence: str
    description: str
    paths: tuple[str, ...]

    def files(self) -> tuple[WeightFile, ...]:
        return tuple(WeightFile(key=f"{self.name}:{path}", filename=f"{self.name}/{path}",
                                source=HubSource(self.repo_id, path, self.revision), licence=self.licence,
                                description=f"{self.description}: {path}") for path in self.paths)

    def locate(self) -> Path:
        """The local folder holding every file, or ``WeightsUnavailableError`` naming the first missing one."""
        folders = set()
        for item in self.files():
            path = weights.locate(item)
            if path is None:
                raise WeightsUnavailableError(f"{self.description} ({self.repo_id}@{self.revision[:12]})",
                                              weights.candidates(item)[0],
                                              f"{item.source.path} is missing; {self.how_to_get()}")
            folders.add(path.parent)
        if len(folders) != 1:  # half in our cache, half in the HF cache: transformers needs one folder
            raise WeightsUnavailableError(f"{self.description} ({self.repo_id})", None,
                                          f"its files are split over {sorted(map(str, folders))}; "
                                          f"{self.how_to_get()}")
        return folders.pop()

    def how_to_get(self) -> str:
        keys = " ".join(item.key for item in self.files())
        return (f"run `longvgenbench weights fetch {keys}` on a machine with network (licence: {self.licence}), "
                f"or pass a local transformers folder with the estimator option model_dir=PATH")


DEPTH_ANYTHING_V2_LARGE = ModelFolder(
    name="depth-anything-v2-large-hf", repo_id="depth-anything/Depth-Anything-V2-Large-hf",
    revision="7581137eff8d4e94f6e796d3baea0e9fa79b22d2", licence="CC-BY-NC-4.0",
    description="Depth Anything V2 Large (transformers)", paths=("config.json", "model.safetensors"))
DEPTH_ANYTHING_V2_SMALL = ModelFolder(
    name="depth-anything-v2-small-hf", repo_id="depth-anything/Depth-Anything-V2-Small-hf",
    revision="5426e4f0f36572d16453bbda7a8389317b1bef99", licence="Apache-2.0",
    description="Depth Anything V2 Small (transformers)", paths=("config.json", "model.safetensors"))
QWEN25_VL_7B = ModelFolder(
    name="qwen2.5-vl-7b-instruct", repo_id="Qwen/Qwen2.5-VL-7B-Instruct",
    revision="cc594898137f460bfe9f0759e9844b3ce807cfb5", licence="Apache-2.0",
    description="Qwen2.5-VL-7B-Instruct (transformers)",
    paths=("config.json", "generation_config.json", "preprocessor_config.json", "chat_template.json",
           "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt", "model.safetensors.index.json",
           *(f"model-{i:05d}-of-00005.safetensors" for i in range(1, 6))))

DEPTH_MODELS = {"large": DEPTH_ANYTHING_V2_LARGE, "small": DEPTH_ANYTHING_V2_SMALL}
WEIGHT_FILES = (*DEPTH_ANYTHING_V2_LARGE.files(), *DEPTH_ANYTHING_V2_SMALL.files(), *QWEN25_VL_7B.files())
