"""The LangGraph application: wiring only (the nodes live in agent/nodes/).

    prepare_run -> plan_traversals --Send per plan--> explain_latent --> write_report_files
    explain_latent = coder -> sandbox -> vision -> verifier -(loop back)-> coder
                                     \\-(sandbox failed)-> verifier
                     verifier -(accepted)-> score_fidelity -(refused: new anchors)-> coder

The run context is agent.settings.Settings (LangGraph's context_schema): pass it as
`graph.invoke({"model_ref": "builtin:dsprites-btcvae"}, context={"n_samples": 3})`; without one
the defaults and LATENT_EXPLAINER_* variables apply. The input needs only `model_ref`; the run
makes its own folder (under ./runs) unless `run_dir` is given, and owns its sandbox kernel.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from agent.nodes.coder import write_perturbation_code
from agent.nodes.fidelity import route_after_fidelity, score_fidelity
from agent.nodes.planner import plan_traversals
from agent.nodes.reporter import write_report_files
from agent.nodes.run_setup import prepare_run
from agent.nodes.sandbox_runner import run_perturbation_code
from agent.nodes.verifier import route_after_verifier, verify_explanations
from agent.nodes.vision import query_vision_model
from agent.settings import Settings
from agent.state import LatentState, RunInput, RunState


def route_after_sandbox(state: LatentState) -> str:
    """A traversal that failed goes straight to the verifier, which records the failure."""
    return "verify_explanations" if state.get("error") else "query_vision_model"


def fan_out_plans(state: RunState) -> list[Send]:
    """One explain_latent branch per TraversalPlan, each starting at attempt 1. shape_leader: the
    first plan of the same mode, whose coder writes the shape's code (agent/nodes/coder.py)."""
    record = state["settings"]
    leaders: dict[str, str] = {}
    for plan in state["plans"]:
        leaders.setdefault(plan.get("mode", "absolute"), plan["id"])
    job_base = {"run_dir": state["run_dir"], "model_ref": state["model_ref"], "latent_dim": state["model"]["latent_dim"],
                "bias": state["bias"], "backend": state["backend"], "max_span": record["max_range"],
                "peer_plans": state["plans"]}
    return [
        Send("explain_latent", {
            "job": job_base | {"plan": plan, "shape_leader": leaders[plan.get("mode", "absolute")]},
            "attempt": 1,
            "span": max(abs(value) for value in plan["values"]),
            "seed": record["seed"],
            "values": plan["values"],
            "steps": [{"node": "planner", "plan": plan, "bias_prompt": state["bias"]["prompt"]}],
        })
        for plan in state["plans"]
    ]


def build_latent_graph():
    builder = StateGraph(LatentState, context_schema=Settings)
    builder.add_node(write_perturbation_code)
    builder.add_node(run_perturbation_code)
    builder.add_node(query_vision_model)
    builder.add_node(verify_explanations)
    builder.add_node(score_fidelity)
    builder.add_edge(START, "write_perturbation_code")
    builder.add_edge("write_perturbation_code", "run_perturbation_code")
    builder.add_conditional_edges("run_perturbation_code", route_after_sandbox, ["query_vision_model", "verify_explanations"])
    builder.add_edge("query_vision_model", "verify_explanations")
    builder.add_conditional_edges("verify_explanations", route_after_verifier,
                                  ["write_perturbation_code", "score_fidelity", END])
    builder.add_conditional_edges("score_fidelity", route_after_fidelity, ["write_perturbation_code", END])
    return builder.compile()


def build_graph(checkpointer=None):
    builder = StateGraph(RunState, context_schema=Settings, input_schema=RunInput)
    builder.add_node(prepare_run)
    builder.add_node(plan_traversals)
    builder.add_node("explain_latent", build_latent_graph())
    builder.add_node(write_report_files)
    builder.add_edge(START, "prepare_run")
    builder.add_edge("prepare_run", "plan_traversals")
    builder.add_conditional_edges("plan_traversals", fan_out_plans, ["explain_latent"])
    builder.add_edge("explain_latent", "write_report_files")
    builder.add_edge("write_report_files", END)
    return builder.compile(checkpointer=checkpointer)


graph = build_graph()
