"""Build the asv dashboard from results of the current checkout and screenshot it in headless Chromium.

    python -m bench.dashboard [--run REGEX] [--screenshot docs/asv_dashboard.png] [--page PATH]

--run REGEX first records results for the benchmarks matching REGEX against the current checkout
(`asv run -E existing:same --set-commit-hash $(git rev-parse HEAD)`); then `asv publish` writes .asv/html,
which is served on 127.0.0.1 (a random free port, for the duration of the screenshot only) and loaded by
`chromium --headless`. Needs asv (`pip install '.[bench]'`) and Chromium (Debian: apt-get install chromium).
"""
import argparse
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def asv(*args):
    subprocess.run([sys.executable, "-m", "asv", *args], cwd=ROOT, check=True)


def screenshot(html_dir, out, page="", size="1400,1000"):
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if browser is None:
        raise SystemExit("no Chromium found (Debian: apt-get install chromium)")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=html_dir)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{page}"
        subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        f"--window-size={size}", "--virtual-time-budget=8000", f"--screenshot={os.path.abspath(out)}", url],
                       check=True, capture_output=True, timeout=120)
    finally:
        server.shutdown()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="benchmark regex to run first against the current checkout")
    ap.add_argument("--screenshot", default=os.path.join(ROOT, "docs", "asv_dashboard.png"))
    ap.add_argument("--page", default="", help="page of the dashboard to load, e.g. '#bench_logdensity.MixtureScore.time_score_samples'")
    a = ap.parse_args(argv)
    if a.run:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        asv("machine", "--yes")
        asv("run", "-E", "existing:same", "--set-commit-hash", head, "--bench", a.run, "--show-stderr")
    asv("publish")
    print(screenshot(os.path.join(ROOT, ".asv", "html"), a.screenshot, a.page))


if __name__ == "__main__":
    main()
