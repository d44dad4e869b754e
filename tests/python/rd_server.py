"""rd_server.py - start a real `redrafter serve` for the SDK tests and stop it afterwards."""
import contextlib
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUN = ROOT / "node_modules" / ".bin" / "bun"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(model: Path, *args: str, start_timeout_s: float = 60):
    """Yields the server's base URL once /health answers 200; its log is in the error if it does not."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="rd-py-serve-") as tmp:
        log_path = Path(tmp) / "server.log"
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [str(BUN), "src/cli/main.ts", "serve", "--model", str(model), "--port", str(port), "--no-log-requests", *args],
                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            )
            url = f"http://127.0.0.1:{port}"
            try:
                deadline = time.time() + start_timeout_s
                while True:
                    try:
                        with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                            if r.status == 200:
                                break
                    except OSError:
                        pass
                    if proc.poll() is not None or time.time() > deadline:
                        raise RuntimeError("server did not start:\n" + log_path.read_text())
                    time.sleep(0.05)
                yield url
            finally:
                proc.terminate()
                proc.wait(timeout=30)
