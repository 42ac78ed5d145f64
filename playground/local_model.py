"""`python app.py playground --local-model`: the playground's chat, docs and digest answers come from a real model
on this machine, llama.cpp's OpenAI-compatible server running SmolLM2-135M-Instruct (`requirements-llama.txt`),
instead of the offline engine. The page's model line names it."""

from __future__ import annotations

from bot.settings import Settings, load_settings
from doubles.llama_server import MODEL_NAME, LlamaServer, installed

CONTEXT_TOKENS = 4096


def start_local_model() -> LlamaServer:
    """The model server, started; RuntimeError with what to do when it is not installed or does not start."""
    if not installed():
        raise RuntimeError("llama.cpp's server is not installed: pip install -r requirements-llama.txt")
    return LlamaServer(context_tokens=CONTEXT_TOKENS).start(timeout=300)


def local_model_settings(server: LlamaServer) -> tuple[Settings, dict[str, str]]:
    """The playground's settings and the bot's environment, pointed at `server`."""
    env = {
        "OPENAI_BASE_URL": server.base_url,
        "OPENAI_API_KEY": "no-key",
        "MODEL": MODEL_NAME,
        "MODEL_CONTEXT_TOKENS": str(CONTEXT_TOKENS),
        "MODEL_TIMEOUT_SECONDS": "300",
        "ANSWER_MAX_TOKENS": "256",
        "DOCS_EMBEDDING": "static",  # the server serves no embeddings: docs are searched with the bundled model
    }
    settings = load_settings(openai_base_url=server.base_url, openai_api_key="no-key", model=MODEL_NAME)
    return settings, env
