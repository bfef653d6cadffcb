"""The canonical formula of each bias kind (LatentExplainer, Zhu et al. 2024; docs/method.md).

The planner uses "disentanglement" for VAE-family models when the user gives no formula. The
"custom" entry is an example of a formula outside the three kinds: two named latents that are
independent of each other, each traversed alone.
"""

from __future__ import annotations

DEFAULT_FORMULAS: dict[str, str] = {
    "disentanglement": r"p(\mathbf{z}) = \prod_{i=1}^{d} p(z_i)",
    "combination": r"p(\mathbf{z}) = \prod_{k=1}^{K} p(\mathbf{z}_{G_k})",
    "conditional": r"p(\mathbf{w} \mid y=1) \neq p(\mathbf{w} \mid y=0)",
    "custom": r"p(z_0, z_1) = p(z_0)\, p(z_1)",
}
