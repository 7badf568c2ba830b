"""goulart24 constrained decoding: the number grammar, its logits processor on a fake vocabulary and model
(no ``transformers`` needed), and the likelihood read-out."""

from __future__ import annotations

import math

import pytest
import torch

from empirical.papers.goulart24.llm.grammar import (
    NumberGrammar,
    NumberGrammarProcessor,
    candidate_grid,
    greedy_decode,
    likelihood_prediction,
)
from empirical.papers.goulart24.llm.prompting import parse_answer

#: A fake vocabulary: id 0 ends the sequence; the rest mixes grammar pieces with tokens that break it.
VOCAB = ["<eos>", *"0123456789", ".", ";", "-", " ", "12", "ab", " -", ".5", "\n", "1;", "x=", "- Given", "..", ";;"]
EOS = [0]


@pytest.mark.parametrize(("text", "k", "signed", "ok", "complete"), [
    ("12.5;", 1, False, True, True),
    (" 7;", 1, False, True, True),
    ("1.5; 2.25;", 2, False, True, True),
    ("1.5;", 2, False, True, False),
    ("-3.0;", 1, False, False, False),  # unsigned by default: the demonstrations' format
    ("-3.0;", 1, True, True, True),
    ("1..2;", 1, False, False, False),
    (";", 1, False, False, False),
    ("1.234;", 1, False, True, True),
    ("1.23456;", 1, False, False, False),  # more decimals than allowed (4)
    ("12345678;", 1, False, False, False),  # more integer digits than allowed (7)
    ("1;2;", 1, False, False, False),  # nothing after the k-th number
    ("  1;", 1, False, False, False),  # one space at most
])
def test_grammar_automaton(text, k, signed, ok, complete):
    g = NumberGrammar(k=k, signed=signed)
    s = g.run(text)
    assert (s is not None) == ok
    if ok:
        assert g.complete(s) == complete


def test_grammar_rejects_bad_settings():
    with pytest.raises(ValueError, match="k:"):
        NumberGrammar(k=0)
    with pytest.raises(ValueError, match="decimals"):
        NumberGrammar(decimals=0)
    with pytest.raises(ValueError, match="eos_ids"):
        NumberGrammarProcessor(NumberGrammar(), VOCAB, [], 0)


def _processor(k=1, decimals=2, prompt_len=3):
    return NumberGrammarProcessor(NumberGrammar(k=k, decimals=decimals), VOCAB, EOS, prompt_len)


def test_processor_masks_to_the_grammar_and_forces_the_end():
    proc = _processor()
    ids = lambda *toks: [VOCAB.index(t) for t in toks]  # noqa: E731
    allowed = {VOCAB[i] for i in proc.allowed([])}
    assert allowed == set("0123456789") | {" ", "12", "1;"}  # no sign, no '.', no ';' first, no junk
    assert {VOCAB[i] for i in proc.allowed(ids("1", "2"))} == set("0123456789") | {".", ";", "12", ".5", "1;"}
    assert proc.allowed(ids("1", ";")) == EOS  # complete: only the end of sequence
    assert proc.allowed(ids("ab")) == []  # broken already (cannot happen under the processor)
    scores = torch.zeros(2, len(VOCAB))
    input_ids = torch.tensor([[5, 5, 5, VOCAB.index("3")], [5, 5, 5, VOCAB.index("1;")]])
    out = proc(input_ids, scores)
    assert math.isinf(out[0, VOCAB.index("ab")]) and out[0, VOCAB.index(";")] == 0
    assert out[1, 0] == 0 and bool(torch.isinf(out[1, 1:]).all())


class _FakeLM:
    """A fake model: fixed preferences over the vocabulary (junk first), or seeded random scores."""

    def __init__(self, prefer: list[str] | None = None, seed: int = 0):
        self.prefer = prefer
        self.g = torch.Generator().manual_seed(seed)

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        if self.prefer is None:
            return torch.randn(1, len(VOCAB), generator=self.g)
        s = torch.zeros(1, len(VOCAB))
        for rank, tok in enumerate(reversed(self.prefer)):
            s[0, VOCAB.index(tok)] = rank + 1.0
        return s


def _decode(lm, k=1, max_new=12, prompt=(7, 8, 9)):
    proc = _processor(k=k, prompt_len=len(prompt))
    new = greedy_decode(lm, list(prompt), proc, EOS, max_new)
    return "".join(VOCAB[i] for i in new), proc


def test_greedy_under_the_grammar_gives_a_parsable_answer_from_an_adversarial_model():
    junk_first = ["- Given", "x=", "ab", "-", ";;", "\n", "..", " -", ".", ";", "12", "3", "<eos>"]
    text, proc = _decode(_FakeLM(junk_first), k=2)
    assert parse_answer(text, 2, "lenient") is not None and proc.grammar.complete(proc.grammar.run(text))
    # Unconstrained, the same model answers with the echo of the prompt's line format.
    assert VOCAB[int(_FakeLM(junk_first)(torch.zeros(1, 1)).argmax())] == "- Given"


@pytest.mark.parametrize("seed", range(20))
def test_random_models_always_end_well_formed_or_are_cut(seed):
    text, proc = _decode(_FakeLM(seed=seed), k=1, max_new=30)
    state = proc.grammar.run(text)
    assert state is not None  # never a broken prefix
    if proc.grammar.complete(state):
        vals = parse_answer(text, 1, "lenient")
        assert vals is not None and vals[0] >= 0 and math.isfinite(vals[0])


def test_an_answer_cut_by_max_new_tokens_stays_malformed():
    text, proc = _decode(_FakeLM(["1", "<eos>"]), k=1, max_new=4)  # digits until the cap: '1111', no ';'
    assert text == "1111" and not proc.grammar.complete(proc.grammar.run(text))


def test_candidate_grid_uses_the_context_only():
    vals, texts = candidate_grid(torch.tensor([[10.0], [20.0]]), 5, 2)
    assert vals.tolist() == [5.0, 10.0, 15.0, 20.0, 25.0] and texts[0] == "5.00;"
    one, _ = candidate_grid(torch.tensor([8.0]), 3, 1)
    assert one.tolist() == [4.0, 8.0, 12.0]
    with pytest.raises(ValueError, match="size"):
        candidate_grid(torch.tensor([1.0]), 1, 2)


def test_likelihood_prediction_is_the_probability_weighted_mean():
    vals = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    mean, best = likelihood_prediction(vals, torch.log(torch.tensor([0.2, 0.2, 0.6])))
    assert float(mean) == pytest.approx(0.2 + 0.4 + 1.8) and float(best) == 3.0
