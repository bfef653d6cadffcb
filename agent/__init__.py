"""LatentExplainer: a LangGraph agent that explains the latents of generative models."""

__version__ = "0.1.0"
