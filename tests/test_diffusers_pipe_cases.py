"""Tiny diffusers pipelines (SD 1.x, SDXL, SD3, FLUX.1) with random weights, built offline:
text encoders from tiny transformers configs, tokenizers from a vocabulary written here,
for the from_pipeline tests and benchmarks (no test in this file)."""

from __future__ import annotations

import string

import torch

#: the pipelines of from_pipeline, and the picture size (pixels) their tests use
FAMILIES = ("sd", "sdxl", "sd3", "flux")
SIZE = 16
_CHARS = string.ascii_lowercase + string.digits + ".,!"
_T5_WORDS = "a cat dog photo of the red blue".split()


def clip_tokenizer():
    """A character-level CLIP BPE tokenizer (no merges), 8 tokens long."""
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for c in _CHARS:
        vocab[c] = len(vocab)
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=8)


def t5_tokenizer():
    """A unigram T5 tokenizer over a few words and the letters."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("▁" + w, -1.0) for w in _T5_WORDS] + [(c, -2.0) for c in _CHARS]
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def clip_encoder(seed: int, projection: bool = False, hidden: int = 8, proj_dim: int = 8):
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    config = CLIPTextConfig(vocab_size=2 + 2 * len(_CHARS), hidden_size=hidden,
                            intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
                            max_position_embeddings=8, projection_dim=proj_dim,
                            bos_token_id=0, eos_token_id=1, pad_token_id=1)
    cls = CLIPTextModelWithProjection if projection else CLIPTextModel
    return cls(config).eval()


def t5_encoder(seed: int, d_model: int = 16):
    from transformers import T5Config, T5EncoderModel

    torch.manual_seed(seed)
    return T5EncoderModel(T5Config(
        vocab_size=3 + len(_T5_WORDS) + len(_CHARS), d_model=d_model, d_ff=16, d_kv=4,
        num_layers=1, num_heads=2, relative_attention_num_buckets=8)).eval()


def vae(seed: int = 0, latent_channels: int = 4, shift_factor=None, scaling_factor=0.18215):
    """An AutoencoderKL from 3×16×16 pictures to ``latent_channels``×8×8 latents."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=latent_channels,
        block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=4, sample_size=SIZE,
        shift_factor=shift_factor, scaling_factor=scaling_factor).eval()


def _unet(cross: int, sdxl: bool = False):
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    extra = dict(addition_embed_type="text_time", addition_time_embed_dim=4,
                 projection_class_embeddings_input_dim=6 * 4 + 8) if sdxl else {}
    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 32), norm_num_groups=8, attention_head_dim=4,
        cross_attention_dim=cross, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), **extra).eval()


def pipeline(family: str, *, v_prediction: bool = False, guidance_embeds: bool = True,
             with_vae: bool = True):
    """The family's tiny pipeline (``guidance_embeds``: FLUX.1-dev's distilled guidance)."""
    import diffusers

    if family == "sd":
        sched = diffusers.DDIMScheduler(
            beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
            prediction_type="v_prediction" if v_prediction else "epsilon")
        return diffusers.StableDiffusionPipeline(
            vae=vae() if with_vae else None, text_encoder=clip_encoder(1),
            tokenizer=clip_tokenizer(), unet=_unet(8), scheduler=sched, safety_checker=None,
            feature_extractor=None, requires_safety_checker=False)
    if family == "sdxl":
        sched = diffusers.EulerDiscreteScheduler(
            beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012)
        return diffusers.StableDiffusionXLPipeline(
            vae=vae(), text_encoder=clip_encoder(1), text_encoder_2=clip_encoder(2, True),
            tokenizer=clip_tokenizer(), tokenizer_2=clip_tokenizer(), unet=_unet(16, True),
            scheduler=sched, force_zeros_for_empty_prompt=True)
    if family == "sd3":
        torch.manual_seed(0)
        net = diffusers.SD3Transformer2DModel(
            sample_size=8, patch_size=2, in_channels=4, out_channels=4, num_layers=1,
            attention_head_dim=8, num_attention_heads=2, joint_attention_dim=16,
            caption_projection_dim=16, pooled_projection_dim=16, pos_embed_max_size=16)
        return diffusers.StableDiffusion3Pipeline(
            transformer=net, scheduler=diffusers.FlowMatchEulerDiscreteScheduler(shift=3.0),
            vae=vae(shift_factor=0.0609, scaling_factor=1.5305), text_encoder=clip_encoder(1, True),
            tokenizer=clip_tokenizer(), text_encoder_2=clip_encoder(2, True),
            tokenizer_2=clip_tokenizer(), text_encoder_3=t5_encoder(3), tokenizer_3=t5_tokenizer())
    if family == "flux":
        torch.manual_seed(0)
        net = diffusers.FluxTransformer2DModel(
            in_channels=16, num_layers=1, num_single_layers=1, attention_head_dim=8,
            num_attention_heads=2, joint_attention_dim=16, pooled_projection_dim=8,
            guidance_embeds=guidance_embeds, axes_dims_rope=(2, 2, 4))
        sched = diffusers.FlowMatchEulerDiscreteScheduler(
            use_dynamic_shifting=True, base_shift=0.5, max_shift=1.15, base_image_seq_len=256,
            max_image_seq_len=4096)
        return diffusers.FluxPipeline(
            transformer=net, scheduler=sched,
            vae=vae(shift_factor=0.1159, scaling_factor=0.3611), text_encoder=clip_encoder(1),
            tokenizer=clip_tokenizer(), text_encoder_2=t5_encoder(2), tokenizer_2=t5_tokenizer())
    raise ValueError(family)


def options(family: str) -> dict:
    """from_pipeline's size options of the tests: FLUX's dynamic shift from the picture
    size, and the short T5 sequence of SD3 and FLUX."""
    if family == "flux":
        return {"height": SIZE, "width": SIZE, "max_sequence_length": 8}
    if family == "sd3":
        return {"max_sequence_length": 8}
    return {}


#: a prompt with guidance, per family (FLUX: true CFG with a negative prompt, and the
#: distilled guidance input)
GUIDED = {
    "sd": {"prompt": "red cat", "negative_prompt": "dog", "guidance_scale": 7.5},
    "sdxl": {"prompt": "red cat", "guidance_scale": 5.0},
    "sd3": {"prompt": "red cat", "negative_prompt": "dog", "guidance_scale": 7.0},
    "flux": {"prompt": "red cat", "negative_prompt": "dog", "guidance_scale": 3.5,
             "true_cfg_scale": 4.0},
}


def pictures(batch: int = 1, seed: int = 3) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, SIZE, SIZE, generator=g) * 2 - 1
