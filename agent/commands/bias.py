"""`latent-explainer bias check "FORMULA"`: how a bias formula is read — its SymPy form, its kind,
the inductive-bias prompt it gives and the traversal plan for a model of a given size."""

from __future__ import annotations

import argparse
import json
import re

from agent.errors import UserError

_GROUP = re.compile(r"^([A-Za-z_][\w']*)=(\d+(?:,\d+)*)$")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("bias", help="inductive-bias formulas: see how one is read and planned")
    commands = p.add_subparsers(dest="bias_command", required=True, parser_class=type(p))
    c = commands.add_parser("check", help="parse a formula; print its SymPy form, kind, prompt and plan",
                            description=__doc__)
    c.add_argument("formula", help=r"LaTeX or plain text, e.g. 'p(\mathbf{z}) = \prod_{i=1}^{d} p(z_i)' "
                                   "or 'p(z) = prod_i p(z_i)'")
    c.add_argument("--latent-dim", type=int, default=10, help="latents of the model to plan for (default 10)")
    c.add_argument("--groups", nargs="*", default=[], metavar="NAME=i,j",
                   help="latent groups of the model, e.g. shape=0,1 colour=2,3 (latents numbered from 0)")
    c.add_argument("--attributes", default="", metavar="NAME,...",
                   help="attribute names of the model, for conditional biases (e.g. shape,scale)")
    c.add_argument("--prompt-text", default=None, help="the text prompt, for a bias conditioned on a prompt t")
    c.add_argument("--grammar", default=None, metavar="FILE",
                   help="JSON file of symbol-to-word entries to add to or override prompts/grammar.json")
    c.add_argument("--range", type=float, default=None, help="traverse over [-RANGE, RANGE] (default 3)")
    c.add_argument("--frames", type=int, default=None, help="number of traversal values (default 7)")
    c.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    c.set_defaults(run=run_check)


def parse_groups(items: list[str]) -> dict[str, list[int]]:
    """['shape=0,1', 'colour=2'] -> {'shape': [0, 1], 'colour': [2]}."""
    groups: dict[str, list[int]] = {}
    for item in items:
        match = _GROUP.match(item.replace(" ", ""))
        if not match:
            raise UserError(f"--groups entry {item!r} is not NAME=i,j (e.g. shape=0,1)")
        name = match.group(1)
        if name in groups:
            raise UserError(f"--groups names the group {name!r} twice")
        groups[name] = [int(i) for i in match.group(2).split(",")]
    return groups


def run_check(args: argparse.Namespace) -> int:
    from tools.bias_formula import parse_bias, to_text
    from tools.bias_formula.plans import (
        DEFAULT_FRAMES,
        DEFAULT_RANGE,
        MissingModelContext,
        plan_for_model,
        traversal_values,
    )

    groups = parse_groups(args.groups)
    attributes = [a.strip() for a in args.attributes.split(",") if a.strip()]
    values = traversal_values(DEFAULT_RANGE if args.range is None else args.range,
                              DEFAULT_FRAMES if args.frames is None else args.frames)
    spec = parse_bias(args.formula, grammar_path=args.grammar)
    latex = to_text(spec, latex=True)
    try:
        plans, needs = plan_for_model(spec, args.latent_dim, values, groups, attributes=attributes,
                                      prompt_text=args.prompt_text), None
    except MissingModelContext as error:  # a valid formula; its plan needs what a model's metadata gives
        plans, needs = None, str(error)
    if args.json:
        out = {**spec.to_dict(), "latex": latex, "latent_dim": args.latent_dim,
               "plan": [plan.to_dict() for plan in plans] if plans is not None else None, "plan_needs": needs}
        print(json.dumps(out, indent=2))
        return 0
    print(f"formula:    {spec.formula}")
    print(f"read as:    {spec.text}")
    print(f"LaTeX:      {latex}")
    print(f"SymPy:      {spec.sympy}")
    print(f"kind:       {spec.kind}")
    print(f"varies:     {_targets(spec.targets)}; held: {spec.held}")
    if spec.condition_details:
        print(f"conditions: {_conditions(spec.condition_details)}")
    print("prompt:")
    for line in spec.prompt.splitlines():
        print(f"    {line}")
    if plans is None:
        print(f"plan:       needs the model's context: {needs}")
        print("            (a model's metadata gives it when you explain; here, give it with the flags named)")
        return 0
    print(f"plan (latent_dim {args.latent_dim}, values {values}):")
    for plan in plans:
        condition = f"  condition {json.dumps(plan.condition)}" if plan.condition else ""
        print(f"    {plan.id:<12} indices {plan.indices}  {plan.mode}{condition}")
    return 0


def _targets(targets: list[dict]) -> str:
    if not targets:
        return "nothing"
    parts = []
    for target in targets:
        extra = target.get("indices") or target.get("group")
        parts.append(f"{target['latent']} ({target['sweep']}{f' {extra}' if extra else ''})")
    return ", ".join(parts)


def _conditions(details: list[dict]) -> str:
    parts = []
    for d in details:
        kind = "prompt" if d["role"] == "prompt" else "any model attribute" if d["generic"] else "a named attribute"
        values = f", values {d['values']}" if d["values"] else ""
        parts.append(f"{d['variable']} ({kind}{values})")
    return ", ".join(parts)
