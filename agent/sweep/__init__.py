"""Explaining many models at once (`latent-explainer sweep`): which models (spec), their run
folders and what can be reused (runs), one model as a Ray task (task), the driver (runner), the
sweep's progress lines (progress) and sweep.json / sweep.html (report)."""
