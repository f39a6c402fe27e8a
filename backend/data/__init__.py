"""Training data: the corpus format, normalization stats, importers and the synthetic
corpus generator. See docs/dataset.md.

Light on purpose: import the submodule you need (``backend.data.dataset`` pulls in torch).
"""
