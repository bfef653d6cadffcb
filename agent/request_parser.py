"""A sentence -> RunSpec (agent/run_spec.py), for `latent-explainer ask`.

Two readers, one result type:
- `parse_request`: the offline rule-based reader. It finds, in this order, a Stable Diffusion
  prompt ("with the prompt "TEXT""), a bias formula ("with bias FORMULA", or a bias kind named
  in words), a model reference (builtin:NAME, FILE.py:FUNCTION, a checkpoint folder,
  diffusers:/sd: references, or a built-in model named by its name, dataset and family words),
  counts ("using 8 frames", "5 samples", "3 directions", "range 4", "threshold 0.7", "seed 3")
  and family words (VAE, beta-TCVAE, CSVAE, DDPM, diffusion, diffusers, Stable Diffusion). A
  folder or hub id called Stable Diffusion becomes sd:PATH, one called a (diffusers) DDPM
  diffusers:PATH unless it is a `train-ddpm` checkpoint. Each part it
  reads is masked out, so a "vae" inside a file path is not a family word; every number left
  over, and every reference it cannot resolve, goes to `not_understood` in one clear sentence.
- `parse_request_with_llm`: a structured-output call to the configured LLM (json_schema,
  falling back to function calling for servers that lack it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from agent.errors import UserError
from agent.run_spec import RunSpec

if TYPE_CHECKING:
    from agent.llm_config import LLMConfig
    from tools.models.builtin import BuiltinModel

NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
_NUM = r"[+-]?\d+(?:\.\d+)?|" + "|".join(NUMBER_WORDS)

COUNT_NOUNS = {"frames": "frames", "frame": "frames", "steps": "frames", "images": "frames",
               "samples": "n_samples", "sample": "n_samples", "explanations": "n_samples",
               "attempts": "max_attempts", "attempt": "max_attempts", "tries": "max_attempts",
               "n_samples": "n_samples", "max_attempts": "max_attempts",
               "directions": "directions", "direction": "directions"}
"""'N <noun>' or '<noun>=N' -> the setting it sets ("using 8 frames", "5 samples", "frames=9")."""

KNOWN_COUNTS = "N frames, N samples, N attempts, N directions, range R, threshold T, seed S"

FAMILY_PATTERNS = [
    ("sd", r"\bstable[- ]?diffusion\b|\bsd\b"),
    ("ddpm", r"\bddpm\b|\bddim\b|\bdiffusers\b|\bdiffusion\b"),
    ("csvae", r"\bcs[- ]?vae\b"),
    ("vae", r"\b(?:beta|b)?[- ]?(?:tc[- ]?)?vae\b"),
]
"""Family words, most specific first; each match is masked before the next pattern runs."""

BIAS_WORDS = [
    ("conditional", r"\battribute[- ]?(?:sub)?spaces?\b|\battributes?\b|\bconditional\b|\bconditioned\b"),
    ("combination", r"\bsubspaces?\b|\bgroups?\b|\bcombination\b|\bjointly\b"),
    ("disentanglement", r"\bdisentangle\w*|\bindependen\w*|\bfactori[sz]ed\b"),
]
"""Bias kinds named in words; the kind selects tools.bias_formula.DEFAULT_FORMULAS[kind]."""

TOKEN_ALIASES = [
    (r"β", "beta"),
    (r"\b(?:beta|b)[- ]?tc[- ]?vae\b|\btc[- ]?vae\b", "btcvae"),
    (r"\b(?:beta|b)[- ]vae\b|\bbetavae\b", "betavae"),
    (r"\bcs[- ]vae\b", "csvae"),
    (r"\bstable[- ]diffusion\b", "sd"),
    (r"\b3d[- ]?shapes\b|\bshapes[- ]?3d\b", "shapes3d"),
    (r"\bd[- ]?sprites\b", "dsprites"),
    (r"\bceleba[- ]?hq\b", "celeba"),
]
"""Spellings made one token before built-in models are matched ("3D Shapes" -> shapes3d)."""

KNOWN_DATASETS = frozenset({"dsprites", "shapes3d", "celeba", "mnist", "afhq", "lsun", "cifar10", "ffhq"})
"""Dataset words that show the user means a built-in model, even one that does not exist."""

_BIAS_TRIGGER = re.compile(r"(?:^|\b(?:with|using|under|and)\s+)(?:the\s+|a\s+|an\s+)?(?:inductive[- ])?bias"
                           r"(?:\s+formula)?\b\s*(?:[:=](?!=)|\bis\b)?\s*", re.IGNORECASE)
_FORMULA_END = re.compile(r"(?:,\s*|\s+)(?:and\s+)?(?:using|with)\s|(?:,\s*|\s+)(?:and|over)\s+(?:" + _NUM + r")\b"
                          r"|;|\?|\.\s+(?=[A-Z])|[.!]?\s*$", re.IGNORECASE)
_QUOTES = {'"': '"', "'": "'", "`": "`", "\u201c": "\u201d", "\u2018": "\u2019"}
_PAIRS = {"(": ")", "[": "]", "{": "}"}
_EDGE = "\"'`()[]{}<>,;!?\u201c\u201d\u2018\u2019"
_NOT_PATHS = frozenset({"and/or", "w/", "w/o", "either/or"})
_PROMPT = re.compile(r"(?:\b(?:with|using|under|for|and)\s+)?(?:the\s+|a\s+)?(?:text\s+)?prompt\b\s*(?:[:=]\s*|\bis\s+|\bof\s+)?",
                     re.IGNORECASE)
_PROMPT_END = re.compile(r"\s*(?:[,;]|\s(?:using|with|and)\s|$)", re.IGNORECASE)


def parse_request(sentence: str, models: Mapping[str, BuiltinModel] | None = None, cwd: Path | None = None) -> RunSpec:
    """Read `sentence` with rules. models: the built-in registry (default BUILTIN_MODELS); cwd:
    where relative folders are looked up (default the working directory). Never raises for what
    it cannot read: that goes to RunSpec.not_understood."""
    from tools.models.builtin import BUILTIN_MODELS

    reader = _Reader(sentence or "", BUILTIN_MODELS if models is None else models, cwd or Path.cwd())
    return reader.read()


class _Reader:
    """One sentence being read; `masked` is the sentence with what was read blanked out."""

    def __init__(self, sentence: str, models: Mapping[str, BuiltinModel], cwd: Path) -> None:
        self.sentence, self.models, self.cwd = sentence.strip(), models, cwd
        self.masked = self.sentence
        self.fields: dict = {}
        self.notes: list[str] = []
        self.model_noted = False  # a note about the model reference was already given

    def read(self) -> RunSpec:
        if not self.sentence:
            return RunSpec(not_understood=["the request is empty; say which model to explain"])
        self._prompt()
        self._bias_formula()
        refs = self._explicit_refs()
        self._settings()
        self._stray_numbers()
        family = self._family()
        if "bias_formula" not in self.fields:
            self._bias_words()
        if "bias_formula" not in self.fields and re.search(r"\bbias\b", self.masked, re.IGNORECASE):
            self.notes.append("I could not read the bias in the request; write it as 'with bias FORMULA'")
        if not refs:
            refs = self._builtin_by_words(family)
        if len(set(refs)) > 1:
            self.notes.append(f"the request names several models ({', '.join(dict.fromkeys(refs))}); name one")
        elif refs:
            self.fields["model_ref"] = self._with_diffusion_prefix(refs[0], family)
        elif not self.model_noted:
            self.notes.append(f"I could not find a model reference in: {self.sentence!r}; name one as builtin:NAME "
                              f"({_builtin_list(self.models)}), FILE.py:FUNCTION or a checkpoint folder")
        return RunSpec(**self.fields, family=family, not_understood=self.notes)

    def _prompt(self) -> None:
        """'with the prompt "TEXT"' (quoted), or unquoted up to ',', ';', 'using', 'with', 'and' or the end."""
        trigger = _PROMPT.search(self.masked)
        if trigger is None:
            return
        start = trigger.end()
        rest = self.masked[start:]
        quoted = self._quoted(start)
        if quoted:
            end, text = quoted
        else:
            stop = _PROMPT_END.search(rest)
            end = start + (stop.start() if stop else len(rest))
            text = self.sentence[start:end].strip().rstrip(".")
        self._mask(trigger.start(), end)
        if text:
            self.fields["prompt"] = text
        else:
            self.notes.append(f"{trigger.group(0).strip()!r} is not followed by the prompt; write it in quotes")

    def _with_diffusion_prefix(self, ref: str, family: str | None) -> str:
        """sd:REF for a folder or hub id called Stable Diffusion, diffusers:REF for one called a
        DDPM / diffusers model that is not a `train-ddpm` checkpoint; other references as given."""
        if family not in ("sd", "ddpm") or re.match(r"^(?:builtin|disvae|diffusers|sd):", ref) or ".py:" in ref:
            return ref
        if family == "ddpm" and (self.cwd / Path(ref).expanduser() / "config.json").is_file():
            return ref  # a train-ddpm checkpoint (config.json + model.safetensors)
        return f"{'sd' if family == 'sd' else 'diffusers'}:{ref}"

    def _quoted(self, start: int) -> tuple[int, str] | None:
        """(end, text) of a quoted text starting at `start` ('...', "..." or the typographic
        quotes), the end just past the closing quote; None when the text there is not quoted."""
        rest = self.masked[start:]
        close = _QUOTES.get(rest[:1])
        if not close or close not in rest[1:]:
            return None
        end = start + 1 + rest[1:].index(close) + 1
        return end, self.sentence[start + 1:end - 1].strip()

    def _mask(self, start: int, end: int) -> None:
        self.masked = self.masked[:start] + " " * (end - start) + self.masked[end:]

    def _bias_formula(self) -> None:
        """'with bias FORMULA' (quoted or up to 'using ...', 'with ...', ';', '?' or the end)."""
        from tools.bias_formula import DEFAULT_FORMULAS

        trigger = _BIAS_TRIGGER.search(self.masked)
        if trigger is None:
            return
        start = trigger.end()
        rest = self.masked[start:]
        quoted = self._quoted(start)
        if quoted:
            end, formula = quoted
        else:
            end = start + _formula_length(rest)
            formula = self.sentence[start:end].strip()
        self._mask(trigger.start(), end)
        if not formula:
            self.notes.append(f"{trigger.group(0).strip()!r} is not followed by a formula")
        elif formula.lower() in DEFAULT_FORMULAS:
            self.fields["bias_formula"] = DEFAULT_FORMULAS[formula.lower()]
        else:
            self.fields["bias_formula"] = formula

    def _explicit_refs(self) -> list[str]:
        """builtin:NAME, FILE.py:FUNCTION and folders, in the order written."""
        refs = []
        for token in list(re.finditer(r"\S+", self.masked)):
            text = token.group(0).strip(_EDGE)
            text = text[:-1] if text.endswith(".") and not text.endswith("..") else text
            ref = self._as_ref(text)
            if ref is not None:
                self._mask(token.start(), token.end())
                if ref:
                    refs.append(ref)
        return refs

    def _as_ref(self, text: str) -> str | None:
        """The reference a token names, "" for a token that is a broken reference (noted), or
        None for a token that is not a reference."""
        if re.match(r"^(?:diffusers|sd|disvae):\S+$", text):
            return text
        if text.startswith("builtin:"):
            name = text.removeprefix("builtin:")
            if name in self.models:
                return text
            self.notes.append(f"there is no built-in model {name!r}; built-ins are: {_builtin_list(self.models)}")
            self.model_noted = True
            return ""
        if re.fullmatch(r".+\.py:[A-Za-z_]\w*", text):
            return text
        if text.endswith(".py"):
            self.notes.append(f"{text!r} names a Python file but no function; write it as {text}:FUNCTION")
            self.model_noted = True
            return ""
        if "/" in text and "://" not in text and text.lower() not in _NOT_PATHS and not re.search(r"[()=|\\^]", text):
            return text
        if re.fullmatch(r"[\w.\-]+", text) and (self.cwd / text / "config.json").is_file():
            return text
        return None

    def _settings(self) -> None:
        """'N frames' / 'N samples' / 'N attempts', 'range R', 'threshold T', 'seed S'."""
        patterns = [
            (r"\b(?P<num>" + _NUM + r")\s+(?:explanation\s+|traversal\s+)?(?P<noun>[a-z]+)\b", None),
            (r"\b(?P<noun>[a-z_]+)\s*[=:]\s*(?P<num>[+-]?\d+(?:\.\d+)?)(?![\w.])", None),
            (r"\b(?:traversal\s+)?range\s*(?:of\s+|=\s*|:\s*)?(?:±|\+-|\+/-)?\s*(?P<num>\d+(?:\.\d+)?)\b"
             r"|\brange\s*(?:of\s+)?\[\s*-(?P<neg>\d+(?:\.\d+)?)\s*,\s*\+?(?P<num2>\d+(?:\.\d+)?)\s*\]", "traversal_range"),
            (r"\b(?:certainty\s+)?threshold\s*(?:of\s+|=\s*|:\s*)?(?P<num>\d*\.?\d+)", "threshold"),
            (r"\bseed\s*(?:of\s+|=\s*|:\s*)?(?P<num>\d+)\b", "seed"),
        ]
        for pattern, name in patterns:
            for match in list(re.finditer(pattern, self.masked, re.IGNORECASE)):
                if name is None:
                    setting = COUNT_NOUNS.get(match.group("noun").lower())
                    if setting is None:
                        continue
                    self._set(setting, match.group("num"), match.group(0))
                elif match.groupdict().get("num2"):
                    if float(match.group("neg")) != float(match.group("num2")):
                        self.notes.append(f"the traversal range must be symmetric, [-R, R]; got {match.group(0)!r}")
                    else:
                        self._set(name, match.group("num2"), match.group(0))
                else:
                    self._set(name, match.group("num"), match.group(0))
                self._mask(match.start(), match.end())

    def _set(self, name: str, raw: str, quote: str) -> None:
        value: int | float = NUMBER_WORDS[raw.lower()] if raw.lower() in NUMBER_WORDS else float(raw)
        if name == "prompt":
            return
        if name not in ("traversal_range", "threshold"):
            if value != int(value):
                self.notes.append(f"{name.replace('_', ' ')} must be a whole number; got {quote!r}")
                return
            value = int(value)
        if name in self.fields and self.fields[name] != value:
            self.notes.append(f"the request gives {name.replace('_', ' ')} twice ({self.fields[name]:g} and {value:g})")
        self.fields[name] = value

    def _stray_numbers(self) -> None:
        for match in re.finditer(r"(?<![\w.:/-])[+-]?\d+(?:\.\d+)?(?![\w.])", self.masked):
            following = re.match(r"\s*([A-Za-z]+)", self.masked[match.end():])
            quote = match.group(0) + (f" {following.group(1)}" if following else "")
            self.notes.append(f"I did not understand {quote!r}; I know {KNOWN_COUNTS}")

    def _family(self) -> str | None:
        text = _normalise(self.masked)
        found = []
        for family, pattern in FAMILY_PATTERNS:
            if re.search(pattern, text):
                found.append(family)
                text = re.sub(pattern, " ", text)
        if len(found) > 1:
            self.notes.append(f"the request names several model families ({', '.join(found)}); name one")
            return None
        return found[0] if found else None

    def _bias_words(self) -> None:
        from tools.bias_formula import DEFAULT_FORMULAS

        text = self.masked.lower()
        for kind, pattern in BIAS_WORDS:
            if re.search(pattern, text):
                self.fields["bias_formula"] = DEFAULT_FORMULAS[kind]
                return

    def _builtin_by_words(self, family: str | None) -> list[str]:
        """A built-in named in words: its exact name, or its dataset (and family / name words)."""
        text = _normalise(self.masked)
        words = set(re.findall(r"[a-z0-9]+", text))
        for name in self.models:
            if re.search(rf"(?<![\w-]){re.escape(_normalise(name))}(?![\w-])", text):
                return [f"builtin:{name}"]
        datasets = {_normalise(m.dataset) for m in self.models.values()} | KNOWN_DATASETS
        asked = words & datasets
        if not asked:
            return []
        candidates = [m for m in self.models.values() if _normalise(m.dataset) in asked]
        if family:
            candidates = [m for m in candidates if m.family == family]
        scores = {m.name: len(words & set(re.findall(r"[a-z0-9]+", _normalise(m.name.replace("-", " "))))) for m in candidates}
        best = [name for name, score in scores.items() if score == max(scores.values(), default=0)]
        said = " ".join(sorted(asked) + ([family] if family else []))
        if len(best) == 1:
            return [f"builtin:{best[0]}"]
        self.model_noted = True
        if best:
            self.notes.append(f"{said!r} matches several built-in models ({', '.join('builtin:' + b for b in best)}); name one")
        else:
            self.notes.append(f"no built-in model matches {said!r}; built-ins are: {_builtin_list(self.models)}")
        return []


def _formula_length(rest: str) -> int:
    """Characters of `rest` that belong to the formula: up to the first terminator outside
    brackets (a LaTeX '\\,' is spacing, not a comma)."""
    for match in _FORMULA_END.finditer(rest):
        prefix = rest[: match.start()]
        depth = sum(prefix.count(o) - prefix.count(c) for o, c in _PAIRS.items())
        if depth <= 0 and not prefix.endswith("\\") and not (match.group(0).startswith(".") and prefix.endswith("..")):
            return match.start()
    return len(rest)


def _normalise(text: str) -> str:
    """Lower case with TOKEN_ALIASES applied."""
    text = text.lower()
    for pattern, token in TOKEN_ALIASES:
        text = re.sub(pattern, token, text)
    return text


def _builtin_list(models: Mapping[str, BuiltinModel]) -> str:
    """'builtin:a (vae, dsprites), builtin:b (...)' or 'none' for an empty registry."""
    return ", ".join(f"builtin:{m.name} ({m.family}, {m.dataset})" for m in models.values()) or "none"


def router_instructions(models: Mapping[str, BuiltinModel] | None = None) -> str:
    """The system message of the structured-output call, with the current built-ins."""
    from tools.bias_formula import DEFAULT_FORMULAS
    from tools.models.builtin import BUILTIN_MODELS
    from tools.models.references import ALLOWED_FORMS

    models = BUILTIN_MODELS if models is None else models
    builtins = "; ".join(f"{m.name} ({m.family}, {m.dataset}: {m.description})" for m in models.values()) or "none"
    kinds = "; ".join(f"{kind}: {formula}" for kind, formula in DEFAULT_FORMULAS.items())
    from prompts import render_prompt

    return render_prompt("route_request.txt", ref_forms=ALLOWED_FORMS, builtins=builtins, kinds=kinds).strip()


def parse_request_with_llm(sentence: str, config: LLMConfig, models: Mapping[str, BuiltinModel] | None = None) -> RunSpec:
    """Read `sentence` with the configured LLM: structured output with a json_schema response
    format, retried with function calling when the server refuses that format (HTTP 400/422) or
    answers with something that is not a RunSpec. A bare built-in name is written builtin:NAME.

    Raises LLMUnavailable when the endpoint fails, UserError when neither call gives a RunSpec."""
    import openai

    from agent.llm.chat import build_chat_model, endpoint_errors_as_unavailable
    from tools.models.builtin import BUILTIN_MODELS

    models = BUILTIN_MODELS if models is None else models
    chat = build_chat_model(config, temperature=0.0, n=1)
    messages = [("system", router_instructions(models)), ("human", sentence)]
    failure = "no answer"
    with endpoint_errors_as_unavailable(config):
        for method in ("json_schema", "function_calling"):
            try:
                answer = chat.with_structured_output(RunSpec, method=method, include_raw=True).invoke(messages)
            except (openai.BadRequestError, openai.UnprocessableEntityError) as error:
                failure = f"{method}: HTTP {error.status_code}"
                continue
            except ValueError as error:  # the json_schema answer is parsed inside the client
                failure = f"{method}: {' '.join(str(error).split())[:200]}"
                continue
            if answer["parsed"] is not None:
                return _canonical(answer["parsed"], models)
            failure = f"{method}: {' '.join(str(answer['parsing_error'] or 'no RunSpec in the answer').split())[:200]}"
    raise UserError(f"the LLM at {config.endpoint} (model {config.model!r}) did not return a RunSpec ({failure}); "
                    "run without --llm to use the rule-based reader")


def _canonical(spec: RunSpec, models: Mapping[str, BuiltinModel]) -> RunSpec:
    """`spec` with a bare built-in name written builtin:NAME, and a note when no model is named."""
    ref = (spec.model_ref or "").strip() or None
    if ref in models:
        ref = f"builtin:{ref}"
    notes = list(spec.not_understood)
    if ref is None and not notes:
        notes.append("the LLM found no model reference in the request; name one as builtin:NAME, FILE.py:FUNCTION "
                     "or a checkpoint folder")
    return spec.model_copy(update={"model_ref": ref, "not_understood": notes})
