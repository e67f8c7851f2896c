"""Build the asv dashboard (with history) and screenshot it in headless Chromium.

    python -m bench.dashboard [--history N --bench REGEX] [--run REGEX] [--screenshot docs/asv_dashboard.png]
                              [--page PATH] [--offline-assets /usr/share/javascript] [--flot-from-npm]

--history N records results for the benchmarks matching --bench at each of the last N commits that changed
engine/, in asv's own per-commit environments (``asv run HASHFILE:...``: a wheel of each commit installed in
a virtualenv under .asv/env; already recorded commits are skipped, --skip-existing-commits).
--run REGEX records results for the current checkout only, in this interpreter
(`asv run -E existing:same --set-commit-hash $(git rev-parse HEAD)`). Then `asv publish` writes .asv/html,
which is served on 127.0.0.1 (a random free port, for the duration of the screenshot only) and loaded by
`chromium --headless`. Needs asv (`pip install '.[bench]'`) and Chromium (Debian: apt-get install chromium).

Offline (no CDN): --offline-assets serves jQuery, Bootstrap, md5 and stupidtable from Debian's packages
(libjs-jquery libjs-bootstrap node-blueimp-md5 libjs-jquery-stupidtable) and --flot-from-npm takes Flot
0.8.3 -- the version asv's page is written for -- from the npm registry (`npm pack flot-charts@0.8.3`).
Debian's Flot is a later version whose legend renders as a black box; use it only without npm.
"""
import argparse
import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def asv(*args):
    subprocess.run([sys.executable, "-m", "asv", *args], cwd=ROOT, check=True)


#: asv's page loads these from CDNs; on a machine without internet (like the dev machine) serve local copies
#: (Debian: libjs-jquery libjs-jquery-flot libjs-bootstrap node-blueimp-md5 libjs-jquery-stupidtable)
OFFLINE_ASSETS = {
    "https://code.jquery.com/jquery-3.3.1.min.js": "jquery/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": "jquery-flot/jquery.flot.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js": "jquery-flot/jquery.flot.time.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js": "jquery-flot/jquery.flot.selection.js",
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js": "jquery-flot/jquery.flot.categories.js",
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js": "jquery-stupidtable/stupidtable.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js": "blueimp-md5/md5.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js": "bootstrap/js/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css": "bootstrap/css/bootstrap.min.css",
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js": None,  # bar charts only
}


FLOT_PACKAGE = "flot-charts@0.8.3"


def flot_from_npm(dest):
    """Unpack Flot 0.8.3 (npm package flot-charts) into dest; returns the folder holding jquery.flot.js."""
    import tarfile

    os.makedirs(dest, exist_ok=True)
    out = subprocess.run(["npm", "pack", FLOT_PACKAGE, "--silent"], cwd=dest, capture_output=True, text=True,
                         check=True).stdout.split()
    with tarfile.open(os.path.join(dest, out[-1])) as tar:
        tar.extractall(dest, filter="data")
    return os.path.join(dest, "package")


def offline_copy(html_dir, assets_root, flot_dir=None):
    """A copy of the dashboard whose CDN links point at local files under ``assets_root`` (Flot's files
    from ``flot_dir`` when given: the exact version asv's page expects)."""
    import tempfile

    tmp = tempfile.mkdtemp(prefix="asv-html-")
    dest = os.path.join(tmp, "html")
    shutil.copytree(html_dir, dest)
    vendor = os.path.join(dest, "_vendor")
    os.makedirs(vendor)
    for name in os.listdir(dest):
        if not name.endswith(".html"):
            continue
        path = os.path.join(dest, name)
        text = open(path, encoding="utf-8").read()
        for url, local in OFFLINE_ASSETS.items():
            if url not in text:
                continue
            source = None if local is None else os.path.join(assets_root, local)
            if flot_dir and local and local.startswith("jquery-flot/"):
                source = os.path.join(flot_dir, os.path.basename(local))
            if source is None or not os.path.exists(source):
                text = text.replace(url, "data:text/javascript,")
                continue
            target = os.path.join(vendor, local.replace("/", "_"))
            shutil.copyfile(source, target)
            text = text.replace(url, "_vendor/" + os.path.basename(target))
        # the local copies are other builds: drop the CDN files' subresource-integrity hashes
        text = re.sub(r'\s(integrity|crossorigin|referrerpolicy)="[^"]*"', "", text)
        open(path, "w", encoding="utf-8").write(text)
    return dest


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


def engine_commits(n):
    """The last n commits (oldest first) that changed engine/."""
    out = subprocess.run(["git", "log", f"-n{n}", "--format=%H", "--", "engine/"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[::-1]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--history", type=int, help="record the last N commits that changed engine/ (asv environments)")
    ap.add_argument("--bench", default="time_", help="benchmark regex for --history (default: %(default)s)")
    ap.add_argument("-a", "--attribute", action="append", default=[],
                    help="asv benchmark attribute override for --history, e.g. -a repeat=3 -a processes=1")
    ap.add_argument("--run", help="benchmark regex to run first against the current checkout")
    ap.add_argument("--screenshot", default=os.path.join(ROOT, "docs", "asv_dashboard.png"))
    ap.add_argument("--page", default="", help="page of the dashboard to load, e.g. '#bench_logdensity.MixtureScore.time_score_samples'")
    ap.add_argument("--offline-assets", help="serve asv's CDN scripts from this folder (e.g. /usr/share/javascript)")
    ap.add_argument("--flot-from-npm", action="store_true", help="with --offline-assets: Flot 0.8.3 from npm")
    a = ap.parse_args(argv)
    if a.history:
        import tempfile

        asv("machine", "--yes")
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
            f.write("\n".join(engine_commits(a.history)) + "\n")
        try:
            overrides = [arg for attr in a.attribute for arg in ("-a", attr)]
            asv("run", f"HASHFILE:{f.name}", "--bench", a.bench, "--skip-existing-commits", "--show-stderr", *overrides)
        finally:
            os.unlink(f.name)
    if a.run:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        asv("machine", "--yes")
        asv("run", "-E", "existing:same", "--set-commit-hash", head, "--bench", a.run, "--show-stderr")
    asv("publish")
    html = os.path.join(ROOT, ".asv", "html")
    if a.offline_assets:
        import tempfile

        flot = flot_from_npm(tempfile.mkdtemp(prefix="flot-")) if a.flot_from_npm else None
        html = offline_copy(html, a.offline_assets, flot)
    print(screenshot(html, a.screenshot, a.page))


if __name__ == "__main__":
    main()
