"""Training: the style encoder (contrastive), the denoiser, style presets and the default
model recipe. See docs/training.md.

Light on purpose: import the submodule you need (most pull in torch).
"""
