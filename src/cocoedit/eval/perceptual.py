"""Keep-region perceptual metrics: an LPIPS-style feature distance, DINOv2 and CLIP image similarity.

Masking strategy (the same for all three)
-----------------------------------------
Deep features see a whole neighbourhood, so features computed on the result at a keep-region
position still depend on the edit region nearby. To measure the keep region only, the result's
**edit region is replaced by the source's pixels** before any feature is computed
(:func:`fill_edit_region`): the network then compares ``keep(result) + edit(source)`` with the
source. The two inputs are equal wherever the result's keep region is untouched, so

* an exact keep region scores distance 0 / similarity 1, whatever the edit;
* a change confined to the edit region cannot change the metric at all (it is painted over);
* any change of a keep-region pixel can.

Then, per metric:

* ``keep_lpips`` (lower = closer): VGG16 features at relu1_2, relu2_2, relu3_3, relu4_3 and
  relu5_3 (as LPIPS), each unit-normalised over channels, squared differences weighted per channel
  by the LPIPS linear heads and summed over channels, then averaged over positions **weighted by
  the keep share of each feature cell** (the keep mask area-resampled to that layer's grid), and
  summed over layers. With no head file every channel weighs 1 (the LPIPS paper's unlearned
  baseline): the output then says "LPIPS-style, uncalibrated", and its values are not comparable
  with published LPIPS numbers.
* ``keep_dino`` (higher = closer): cosine similarity of DINOv2 patch tokens (last layer) of the
  two inputs, averaged over patches weighted by each patch's keep share.
* ``keep_clip`` (higher = closer): cosine similarity of the CLIP image embeddings of the two
  inputs (one global vector each; the fill already removes the edit region's influence).

Inputs are ``[3, H, W]`` tensors in [0, 1] and an edit mask ``[1, H, W]`` (1 = edit). The VGG runs
at the image's own resolution (as LPIPS does); DINOv2 at ``dino_size`` (default 224, rounded to
the patch size) and CLIP at its configured input size, both resized with antialiased bicubic
interpolation (the aspect ratio is not kept; both inputs are treated alike).

Weights are only ever read from what the user names: a local VGG16 state dict in torchvision's
key format (``features.N.weight``; ``.pth`` or ``.safetensors``), an optional LPIPS head file
(the lpips package's ``weights/v0.1/vgg.pth``, keys ``linK.model.1.weight``), and a local folder or
hub id for DINOv2 / CLIP loaded with transformers' ``from_pretrained`` (which honours
``HF_HUB_OFFLINE``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from cocoedit.core.errors import CocoEditError

PERCEPTUAL_METRICS = ("keep_lpips", "keep_dino", "keep_clip")
MASKING_STRATEGY = (
    "the result's edit region is replaced by the source's pixels before features are computed; "
    "LPIPS and DINO average over positions weighted by their keep share"
)

# torchvision's vgg16 "features": conv channel counts, "M" = max pool.
VGG16_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
# Indices in that Sequential of relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (the LPIPS taps).
LPIPS_TAPS = (3, 8, 15, 22, 29)
LPIPS_CHANNELS = (64, 128, 256, 512, 512)
# LPIPS's input scaling, applied to images in [-1, 1].
LPIPS_SHIFT = (-0.030, -0.088, -0.188)
LPIPS_SCALE = (0.458, 0.448, 0.450)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


class PerceptualModelError(CocoEditError):
    """A perceptual model's weights could not be loaded; the message names the file or model."""


# ---- pure functions --------------------------------------------------------------------------


def fill_edit_region(result: torch.Tensor, source: torch.Tensor, edit_mask: torch.Tensor) -> torch.Tensor:
    """``result`` with its edit region (``edit_mask >= 0.5``) replaced by ``source``.

    Shapes ``[..., C, H, W]`` for the images and ``[..., 1, H, W]`` for the mask.
    """
    return torch.where(edit_mask >= 0.5, source, result)


def keep_weights(edit_mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Keep share of each cell of an ``size`` grid, ``[B, 1, h, w]``, from ``edit_mask [B, 1, H, W]``."""
    keep = 1.0 - (edit_mask >= 0.5).float()
    return F.interpolate(keep, size=size, mode="area")


def unit_normalize(features: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Features ``[B, C, h, w]`` divided by their L2 norm over channels (as LPIPS)."""
    return features / (features.square().sum(dim=1, keepdim=True).sqrt() + eps)


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean of ``values [B, ...]`` weighted by ``weights`` (same shape), ``[B]``; NaN if no weight."""
    total = weights.flatten(1).sum(dim=1)
    mean = (values * weights).flatten(1).sum(dim=1) / total.clamp_min(1e-12)
    return torch.where(total > 0, mean, torch.full_like(mean, float("nan")))


def lpips_keep_distance(
    features_x: Sequence[torch.Tensor],
    features_y: Sequence[torch.Tensor],
    heads: Sequence[torch.Tensor],
    edit_mask: torch.Tensor,
) -> torch.Tensor:
    """LPIPS-style distance over the keep region, ``[B]``.

    ``features_*[l]`` are ``[B, C_l, h_l, w_l]`` (one per layer), ``heads[l]`` are ``[C_l]``
    non-negative channel weights, ``edit_mask`` is ``[B, 1, H, W]`` (1 = edit). Per layer:
    ``sum_c w_c (x̂_c - ŷ_c)²`` with x̂, ŷ unit-normalised over channels, averaged over positions
    weighted by keep share; the layers are summed.
    """
    total = None
    for fx, fy, w in zip(features_x, features_y, heads, strict=True):
        diff = (unit_normalize(fx) - unit_normalize(fy)).square()
        per_position = (diff * w.view(1, -1, 1, 1)).sum(dim=1, keepdim=True)
        layer = weighted_mean(per_position, keep_weights(edit_mask, tuple(fx.shape[-2:])))
        total = layer if total is None else total + layer
    return total


def keep_token_similarity(tokens_x: torch.Tensor, tokens_y: torch.Tensor, keep_share: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of tokens ``[B, N, D]`` averaged with weights ``keep_share [B, N]``, ``[B]``."""
    return weighted_mean(F.cosine_similarity(tokens_x, tokens_y, dim=-1), keep_share)


# ---- VGG16 features and LPIPS heads -------------------------------------------------------------


class VGG16Features(nn.Module):
    """torchvision's ``vgg16().features`` in plain torch, returning the LPIPS taps.

    The parameter names are those of torchvision (``features.0.weight`` ...), so its state dict
    loads as is.
    """

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        channels = 3
        for spec in VGG16_LAYOUT:
            if spec == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, spec, kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                channels = spec
        self.features = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in LPIPS_TAPS:
                taps.append(x)
                if index == LPIPS_TAPS[-1]:
                    break
        return taps


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise PerceptualModelError(f"{path}: weights file not found")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file gets the same clear message
        raise PerceptualModelError(f"{path}: cannot read weights ({type(e).__name__}: {e})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise PerceptualModelError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state


def load_vgg16_features(path: str | Path) -> VGG16Features:
    """VGG16 features from a torchvision-format state dict file (classifier keys are ignored)."""
    path = Path(path)
    state = _read_state_dict(path)
    features = {k: v for k, v in state.items() if k.startswith("features.")}
    model = VGG16Features()
    expected = model.state_dict()
    missing = sorted(set(expected) - set(features))
    if missing:
        raise PerceptualModelError(
            f"{path}: not a torchvision VGG16 state dict: missing {missing[:4]}{' ...' if len(missing) > 4 else ''}"
        )
    wrong = [k for k in expected if tuple(features[k].shape) != tuple(expected[k].shape)]
    if wrong:
        k = wrong[0]
        raise PerceptualModelError(
            f"{path}: {k} has shape {tuple(features[k].shape)}, VGG16 needs {tuple(expected[k].shape)}"
        )
    model.load_state_dict({k: features[k] for k in expected})
    return model.eval().requires_grad_(False)


def load_lpips_heads(path: str | Path) -> list[torch.Tensor]:
    """The five LPIPS channel weights ``[C_l]`` from an lpips head file (``linK.model.1.weight``)."""
    path = Path(path)
    state = _read_state_dict(path)
    found: dict[int, torch.Tensor] = {}
    for key, value in state.items():
        match = re.fullmatch(r"lin(\d)(?:\.model\.\d)?\.weight", key)
        if match:
            found[int(match.group(1))] = value.reshape(-1).float()
    heads = []
    for layer, channels in enumerate(LPIPS_CHANNELS):
        if layer not in found:
            raise PerceptualModelError(f"{path}: no lin{layer}.model.1.weight (an lpips vgg head file has lin0..lin4)")
        if found[layer].numel() != channels:
            raise PerceptualModelError(
                f"{path}: lin{layer} has {found[layer].numel()} weights, VGG16 layer {layer} has {channels} channels"
            )
        heads.append(found[layer])
    return heads


def lpips_input(images: torch.Tensor) -> torch.Tensor:
    """Images ``[B, 3, H, W]`` in [0, 1] scaled as LPIPS feeds its VGG."""
    shift = images.new_tensor(LPIPS_SHIFT).view(1, 3, 1, 1)
    scale = images.new_tensor(LPIPS_SCALE).view(1, 3, 1, 1)
    return (images * 2 - 1 - shift) / scale


# ---- transformers models -----------------------------------------------------------------------


def _load_transformers(name: str, kind: str, model_types: tuple[str, ...], loader: Any) -> Any:
    from transformers import AutoConfig

    where = f"the {kind} model {name!r}"
    try:
        config = AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as e:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
        hint = (
            " HF_HUB_OFFLINE is set and it is not in the local Hugging Face cache: give a local folder "
            f"(written with save_pretrained) or fetch it first where the hub is reachable (hf download {name})."
            if offline and not Path(name).exists()
            else ""
        )
        raise PerceptualModelError(f"cannot load {where}: {e}.{hint}") from None
    model_type = getattr(config, "model_type", None)
    if model_type not in model_types:
        raise PerceptualModelError(f"{where} is a {model_type!r} model, expected {' or '.join(model_types)}")
    try:
        model, info = loader.from_pretrained(name, output_loading_info=True)
    except (OSError, ValueError) as e:
        raise PerceptualModelError(f"cannot load {where}: {e}") from None
    if info.get("missing_keys"):
        missing = sorted(info["missing_keys"])
        raise PerceptualModelError(f"{where} lacks weights for {missing[:3]}{' ...' if len(missing) > 3 else ''}")
    return model.eval().requires_grad_(False)


def _resize_normalize(images: torch.Tensor, size: tuple[int, int], mean, std) -> torch.Tensor:
    if tuple(images.shape[-2:]) != size:
        images = F.interpolate(images, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
    return (images - images.new_tensor(mean).view(1, 3, 1, 1)) / images.new_tensor(std).view(1, 3, 1, 1)


@dataclass
class KeepRegionPerceptual:
    """The perceptual metrics the user asked for; call it on one (result, source, mask)."""

    vgg: VGG16Features | None = None
    heads: list[torch.Tensor] | None = None
    dino: Any = None
    clip: Any = None
    dino_size: int = 224
    device: str = "cpu"
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def metrics(self) -> tuple[str, ...]:
        present = {"keep_lpips": self.vgg, "keep_dino": self.dino, "keep_clip": self.clip}
        return tuple(name for name in PERCEPTUAL_METRICS if present[name] is not None)

    @torch.inference_mode()
    def __call__(self, result: torch.Tensor, source: torch.Tensor, edit_mask: torch.Tensor) -> dict[str, float]:
        """Metrics of ``result`` against ``source`` (``[3, H, W]``) on the keep region of ``edit_mask``."""
        x = fill_edit_region(result, source, edit_mask)[None].to(self.device)
        y = source[None].to(self.device)
        m = edit_mask[None].to(self.device)
        both = torch.cat([x, y])
        out = {}
        if self.vgg is not None:
            taps = self.vgg(lpips_input(both))
            heads = self.heads or [torch.ones(c) for c in LPIPS_CHANNELS]
            out["keep_lpips"] = float(
                lpips_keep_distance(
                    [t[:1] for t in taps], [t[1:] for t in taps], [h.to(self.device) for h in heads], m
                )[0]
            )
        if self.dino is not None:
            patch = self.dino.config.patch_size
            side = max(patch, round(self.dino_size / patch) * patch)
            hidden = self.dino(
                pixel_values=_resize_normalize(both, (side, side), IMAGENET_MEAN, IMAGENET_STD)
            ).last_hidden_state[:, 1:]
            share = keep_weights(m, (side // patch, side // patch)).flatten(1)
            out["keep_dino"] = float(keep_token_similarity(hidden[:1], hidden[1:], share)[0])
        if self.clip is not None:
            side = self.clip.config.image_size
            embeds = self.clip(pixel_values=_resize_normalize(both, (side, side), CLIP_MEAN, CLIP_STD)).image_embeds
            out["keep_clip"] = float(F.cosine_similarity(embeds[:1], embeds[1:], dim=-1)[0])
        return out


def load_perceptual(
    lpips_weights: str | Path | None = None,
    lpips_heads: str | Path | None = None,
    dino: str | None = None,
    clip: str | None = None,
    device: str = "cpu",
    dino_size: int = 224,
) -> KeepRegionPerceptual | None:
    """The metrics whose weights are given (``None`` when none is); raises PerceptualModelError."""
    if lpips_heads is not None and lpips_weights is None:
        raise PerceptualModelError("--lpips-heads needs --lpips-weights (the VGG16 backbone)")
    if lpips_weights is None and dino is None and clip is None:
        return None
    scorer = KeepRegionPerceptual(device=device, dino_size=dino_size)
    info: dict[str, Any] = {"masking": MASKING_STRATEGY}
    if lpips_weights is not None:
        scorer.vgg = load_vgg16_features(lpips_weights).to(device)
        if lpips_heads is not None:
            scorer.heads = load_lpips_heads(lpips_heads)
        info["keep_lpips"] = {
            "backbone": str(lpips_weights),
            "heads": str(lpips_heads) if lpips_heads else None,
            "calibrated": lpips_heads is not None,
            "label": "LPIPS (VGG)"
            if lpips_heads
            else "LPIPS-style, uncalibrated (no head weights: every channel weighs 1)",
        }
    if dino is not None:
        from transformers import Dinov2Model

        scorer.dino = _load_transformers(dino, "DINOv2", ("dinov2",), Dinov2Model).to(device)
        info["keep_dino"] = {"model": dino, "input_side": dino_size, "tokens": "last-layer patch tokens"}
    if clip is not None:
        from transformers import CLIPVisionModelWithProjection

        scorer.clip = _load_transformers(clip, "CLIP", ("clip", "clip_vision_model"), CLIPVisionModelWithProjection).to(
            device
        )
        info["keep_clip"] = {"model": clip, "input_side": scorer.clip.config.image_size, "embedding": "image_embeds"}
    scorer.info = info
    return scorer
