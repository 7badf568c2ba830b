"""Constrained decoding for the LLM arm: answers restricted to a number grammar, and a likelihood read-out.

:class:`NumberGrammar` is a character automaton for the answer the prompt asks for: k numbers, each followed
by ``;`` (fact sheet §2, "Prompt protocol"), written like the demonstrations' y's —

    answer := (" "? sign digit{1,I} ("." digit{1,F})? ";"){k}   then end of text

with ``sign`` empty unless ``signed`` (every target of the suite is a norm or a singular value and every
demonstration shows an unsigned number; with a sign allowed, a model that starts to echo the prompt's line
format ``- Given x=…`` is steered into a negative number).

:class:`NumberGrammarProcessor` is a logits processor in the ``transformers`` calling convention
(``processor(input_ids (B, T), scores (B, V)) -> scores``; no import of ``transformers`` is needed, so it is
tested here with a fake vocabulary): at every step it leaves only the tokens whose text keeps the answer a
valid prefix of the grammar, and the end-of-sequence tokens once the answer is complete. Greedy decoding
with it returns a well-formed answer unless ``max_new_tokens`` runs out first; such an answer is still
malformed and is counted as such by the caller.

:func:`candidate_grid` and :func:`likelihood_prediction` score a fixed set of candidate answers by the
model's log-likelihood instead of decoding (for where a grammar cannot help: a model that writes a
well-formed but arbitrary number); the prediction is the likelihood-weighted mean of the candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from empirical.papers.goulart24.llm.prompting import format_number

__all__ = ["NumberGrammar", "NumberGrammarProcessor", "State", "candidate_grid", "likelihood_prediction",
           "greedy_decode"]

DIGITS = frozenset("0123456789")
#: Characters the grammar can ever accept: only tokens made of these are candidates.
ALPHABET = DIGITS | frozenset(" -.;")


@dataclass(frozen=True)
class State:
    """Where the answer stands: numbers completed, and inside the current one the phase (``start``,
    ``spaced``, ``sign``, ``int``, ``dot``, ``frac``) with its digit counts."""

    done: int = 0
    phase: str = "start"
    int_digits: int = 0
    frac_digits: int = 0


@dataclass(frozen=True)
class NumberGrammar:
    """k numbers with at most ``int_digits`` digits before and ``decimals`` after the point, each + ``;``;
    a leading ``-`` only when ``signed``."""

    k: int = 1
    int_digits: int = 7
    decimals: int = 4
    signed: bool = False

    def __post_init__(self) -> None:
        for name in ("k", "int_digits", "decimals"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")

    def step(self, s: State, ch: str) -> State | None:
        """The state after one character, or None when the character breaks the grammar."""
        if s.done == self.k:
            return None
        p = s.phase
        if ch == " " and p == "start":
            return State(s.done, "spaced")
        if ch == "-" and p in ("start", "spaced") and self.signed:
            return State(s.done, "sign")
        if ch in DIGITS:
            if p in ("start", "spaced", "sign"):
                return State(s.done, "int", 1)
            if p == "int" and s.int_digits < self.int_digits:
                return State(s.done, "int", s.int_digits + 1)
            if p in ("dot", "frac") and s.frac_digits < self.decimals:
                return State(s.done, "frac", s.int_digits, s.frac_digits + 1)
            return None
        if ch == "." and p == "int":
            return State(s.done, "dot", s.int_digits)
        if ch == ";" and p in ("int", "frac"):
            return State(s.done + 1)
        return None

    def run(self, text: str, s: State = State()) -> State | None:
        """The state after ``text`` from ``s`` (None as soon as a character breaks the grammar)."""
        for ch in text:
            s = self.step(s, ch)
            if s is None:
                return None
        return s

    def complete(self, s: State) -> bool:
        return s.done == self.k

    def describe(self) -> str:
        sign = '"-"? ' if self.signed else ""
        num = f'" "? {sign}digit{{1,{self.int_digits}}} ("." digit{{1,{self.decimals}}})? ";"'
        return f"({num}){{{self.k}}} then end of sequence"


class NumberGrammarProcessor:
    """Mask every token that would break :class:`NumberGrammar` (``transformers`` logits-processor protocol).

    Args:
        token_texts: the decoded text of every token id (index = id); only tokens made of digits, ``-``,
            ``.``, ``;`` and spaces are ever allowed.
        eos_ids: end-of-sequence ids, allowed exactly when the answer is complete (then nothing else is).
        prompt_len: the answer starts at this position of ``input_ids``.
    """

    def __init__(self, grammar: NumberGrammar, token_texts: Sequence[str], eos_ids: Iterable[int],
                 prompt_len: int) -> None:
        self.grammar = grammar
        self.texts = list(token_texts)
        self.eos = sorted(set(int(i) for i in eos_ids))
        if not self.eos:
            raise ValueError("eos_ids: the grammar needs an end-of-sequence token to finish an answer")
        self.prompt_len = int(prompt_len)
        # Tokens worth trying: non-empty and made only of characters the grammar can accept.
        self.candidates = [i for i, t in enumerate(self.texts) if t and set(t) <= ALPHABET and i not in self.eos]

    def state(self, answer_ids: Sequence[int]) -> State | None:
        return self.grammar.run("".join(self.texts[i] for i in answer_ids))

    def allowed(self, answer_ids: Sequence[int]) -> list[int]:
        """Token ids that may follow the answer so far (empty only if the answer already broke the grammar)."""
        s = self.state(answer_ids)
        if s is None:
            return []
        if self.grammar.complete(s):
            return list(self.eos)
        return [i for i in self.candidates if self.grammar.run(self.texts[i], s) is not None]

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        """input_ids (B, T), scores (B, V) -> scores with every disallowed token at −inf."""
        out = torch.full_like(scores, float("-inf"))
        for b in range(input_ids.shape[0]):
            ok = self.allowed(input_ids[b, self.prompt_len:].tolist())
            if ok:
                idx = torch.tensor(ok, device=scores.device)
                out[b, idx] = scores[b, idx]
            else:  # cannot happen when decoding under this processor; keep the scores rather than all −inf
                out[b] = scores[b]
        return out


def greedy_decode(next_scores: Callable[[Tensor], Tensor], prompt_ids: list[int],
                  processor: Callable[[Tensor, Tensor], Tensor], eos_ids: Iterable[int],
                  max_new_tokens: int) -> list[int]:
    """Greedy decoding with a logits processor: ``next_scores(ids (1, T)) -> scores (1, V)``; the new ids
    (stops at an end-of-sequence id, which is not returned, or after ``max_new_tokens``)."""
    eos = set(int(i) for i in eos_ids)
    ids = list(prompt_ids)
    for _ in range(max_new_tokens):
        t = torch.tensor([ids])
        nxt = int(processor(t, next_scores(t)).argmax(-1))
        if nxt in eos:
            break
        ids.append(nxt)
    return ids[len(prompt_ids):]


def candidate_grid(y_ctx: Tensor, size: int, decimals: int) -> tuple[Tensor, list[str]]:
    """``size`` candidate answers for a scalar target, evenly spaced over the context's range widened by half
    its width on each side (from the demonstrations only, never the target): (values (size,), answer texts).

    y_ctx (c,) or (c, 1). With one demonstration the range is y_0 ± 50 %."""
    y = y_ctx.reshape(-1).to(torch.float64)
    if size < 2:
        raise ValueError(f"size: expected >= 2 candidates, got {size}")
    lo, hi = float(y.min()), float(y.max())
    half = 0.5 * (hi - lo) if hi > lo else 0.5 * abs(lo)
    vals = torch.linspace(lo - half, hi + half, size, dtype=torch.float64)
    vals = torch.round(vals, decimals=decimals)
    return vals, [format_number(float(v), decimals) + ";" for v in vals]


def likelihood_prediction(values: Tensor, logprobs: Tensor) -> tuple[Tensor, Tensor]:
    """(likelihood-weighted mean of the candidates, the most likely candidate) from their summed
    log-probabilities (size,) — the weights are the model's probabilities renormalised over the candidates."""
    w = torch.softmax(logprobs.to(torch.float64), dim=0)
    return (w * values).sum(), values[int(logprobs.argmax())]
