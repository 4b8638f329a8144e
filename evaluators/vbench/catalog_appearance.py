"""Weight files of the VBench appearance dimensions (subject/background consistency, aesthetic quality).

Sources are those VBench 0.1.5 itself downloads from (``vbench/utils.py``, ``init_submodules``),
so a VBench cache on the machine is reused as is (``vbench_subpath``). The OpenAI CLIP URLs carry
the file's sha256 in their path (the ``clip`` package checks it), so those are pinned. No public
record of the sha256 or size of the DINO checkpoint or the LAION head was found: they are listed
unpinned, and every result still records the sha256 of the file that produced it.
"""

from __future__ import annotations

from longvgenbench.weights import UrlSource, WeightFile

DINO_VITB16 = WeightFile(
    key="dino_vitb16",
    filename="dino_vitbase16_pretrain.pth",
    source=UrlSource("https://dl.fbaipublicfiles.com/dino/dino_vitbase16_pretrain/dino_vitbase16_pretrain.pth"),
    licence="Apache-2.0 (facebookresearch/dino)",
    description="DINO ViT-B/16 backbone (subject_consistency)",
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
    vbench_subpath="aesthetic_model/emb_reader/sa_0_4_vit_l_14_linear.pth",
)

WEIGHTS: tuple[WeightFile, ...] = (DINO_VITB16, CLIP_VIT_B32, CLIP_VIT_L14, LAION_AESTHETIC_HEAD)
