"""Weight files of the VBench appearance dimensions (subject/background consistency, aesthetic quality).

Sources are those VBench 0.1.5 itself downloads from (``vbench/utils.py``, ``init_submodules``),
so a VBench cache on the machine is reused as is (``vbench_subpath``). The OpenAI CLIP URLs carry
the file's sha256 in their path (the ``clip`` package checks it), so those are pinned. The DINO
checkpoint and the LAION head are pinned from public records (the files themselves could not be
downloaded here), found with the public code index's exact-string search:

- ``dino_vitbase16_pretrain.pth``: sha256 ``bf34ad0f...c85e``, 343,242,485 bytes. The sha256 is
  quoted by several independent public projects (a wrapper around VBench pinned at
  ``fd18b3d0``, which lists it beside the two CLIP digests as a known hash of VBench's
  ``dino_model/`` file; research code pinning DINO ViT-B/16 as a frozen encoder; a weights
  table giving both the sha256 and the byte size, 85,798,656 parameters, 150 tensors).
- ``sa_0_4_vit_l_14_linear.pth``: sha256 ``2cd4e60f...3cba``, 4,071 bytes. The sha256 is quoted
  by two independent public projects (a VBench-0.1.5-based quality adapter's model table and
  a download inventory that also gives the size and the ``raw/main`` URL used here).

Every result still records the sha256 of the file that produced it.
"""

from __future__ import annotations

from longvgenbench.weights import UrlSource, WeightFile

DINO_VITB16 = WeightFile(
    key="dino_vitb16",
    filename="dino_vitbase16_pretrain.pth",
    source=UrlSource("https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth"),
    licence="Apache-2.0 (facebookresearch/dino)",
    description="DINO ViT-B/16 backbone (subject_consistency)",
    sha256="bf34ad0f424b9029b593e8dc3ed553bf26e88bcba0d32bf3e62a6209cb64c85e",  # public records: module docstring
    size=343_242_485,
    vbench_subpath="dino_model/dino_vitbase16_pretrain.pth",
    torch_hub=True,  # the official hubconf loads it through torch.hub.load_state_dict_from_url
)

CLIP_VIT_B32 = WeightFile(
    key="clip_vit_b32_openai",
    filename="ViT-B-32.pt",
    source=UrlSource("https://openaipublic.azureedge.net/clip/models/"
                     "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af/ViT-B-32.pt"),
    licence="MIT (openai/CLIP)",
    description="OpenAI CLIP ViT-B/32, TorchScript (background_consistency)",
    sha256="40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af",
    vbench_subpath="clip_model/ViT-B-32.pt",
)

CLIP_VIT_L14 = WeightFile(
    key="clip_vit_l14_openai",
    filename="ViT-L-14.pt",
    source=UrlSource("https://openaipublic.azureedge.net/clip/models/"
                     "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt"),
    licence="MIT (openai/CLIP)",
    description="OpenAI CLIP ViT-L/14, TorchScript (aesthetic_quality)",
    sha256="b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836",
    vbench_subpath="clip_model/ViT-L-14.pt",
)

LAION_AESTHETIC_HEAD = WeightFile(
    key="laion_aesthetic_vit_l14",
    filename="sa_0_4_vit_l_14_linear.pth",
    source=UrlSource("https://github.com/LAION-AI/aesthetic-predictor/raw/main/sa_0_4_vit_l_14_linear.pth"),
    licence="MIT (LAION-AI/aesthetic-predictor)",
    description="LAION aesthetic predictor linear head 768->1 on CLIP ViT-L/14 (aesthetic_quality)",
    sha256="2cd4e60f4f24ae3bcd57b847b13c1f3ba27edc28cc1a7f9ce74ee9f421243cba",  # public records: module docstring
    size=4_071,
    vbench_subpath="aesthetic_model/emb_reader/sa_0_4_vit_l_14_linear.pth",
)

WEIGHTS: tuple[WeightFile, ...] = (DINO_VITB16, CLIP_VIT_B32, CLIP_VIT_L14, LAION_AESTHETIC_HEAD)
