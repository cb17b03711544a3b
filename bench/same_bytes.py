"""A refactoring's proof: the same commands give the same bytes, rows, stderr and
exit codes before and after.

Each command of CMDS runs in a fresh folder (the sample images, a small batch with a
broken file, a palette file) with the kquant found at KQUANT_ROOT (as PYTHONPATH);
its exit code, stdout and stderr (timings normalised away) and the hash of every
file it leaves are recorded in OUT.json. ``--diff`` compares two records.

    python bench/same_bytes.py /path/to/old/checkout before.json
    python bench/same_bytes.py . after.json
    python bench/same_bytes.py --diff before.json after.json
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SAMPLES = Path(__file__).resolve().parents[1] / "sample_images"
RUN = Path("/tmp/kquant-same-bytes")
BATCH = "compress mixed -r -o outdir2/ -k 8"
CMDS = [
    "compress china.jpg -k 16 --json",
    "compress astronaut.png -k 32 --dither none --json",
    "compress china.jpg -k 16 --space lab -o out.png",
    "compress china.jpg -k 16 --space rgb --method random --csv",
    "compress chelsea-alpha.png -k 16 --json",
    "compress chelsea-alpha.png -k 256 -o c.gif --json",
    "compress chelsea-alpha.png -k 256 -o c.png --dither none --json",
    "compress advi-anim.gif -k 32 -o a.gif --json",
    "compress advi-anim.gif -k 16 --dither none -o a2.gif",
    "compress advi-anim.gif -k 16 --frame-palette per-frame -o a3.gif --json",
    "compress dog-anim.webp -k 16 -o d.webp --json",
    "compress hello-anim.png -k 16 --frame-palette per-frame -o h.png --json",
    "compress hello-anim.png -k 8 -o h2.png --dither none",
    "compress hello-anim.png -k 16 --frame-palette per-frame -o h.webp --json",
    "compress advi-anim.gif -k 16 -o a4.webp --json",
    "compress dog-anim.webp -k 8 --keep-color #ffffff -o d2.gif --json",
    "compress astronaut.png -k 8 --keep-color pal.txt --dither none --json",
    "compress advi-anim.gif --first-frame -k 8 --json",
    "compress advi-anim.gif -k 300 -o big.gif",
    "compress astronaut.png china.jpg coffee.png --shared-palette -k 16 -o shared/"
    " --export pal.gpl --json",
    "compress astronaut.png advi-anim.gif --shared-palette -k 16 --weight equal -o sh2/ --json",
    "compress china.jpg chelsea-alpha.png --shared-palette -k 16 -o sh3/ --dither none --json",
    "compress coffee.png --target-psnr 30 --json",
    "compress coffee.png --max-mse 50 -k 64 --dither none --json",
    "compress china.jpg --target-psnr 60 -k 64",
    "compress advi-anim.gif --target-psnr 30 -o t.gif --json",
    "compress flower.jpg --palette pal.txt --json",
    "compress chelsea-alpha.png --palette pal.txt --dither none --json",
    "compress china.jpg -k 8 --keep-color #ff0000 --keep-color #00ff00 --json",
    "compress china.jpg -k 16 --dither adaptive --json",
    "compress china.jpg -k 16 --dither-strength 0.5 --json",
    "compress camera.png -k 4 --min-psnr 40",
    "compress missing.png",
    "compress bad.png",
    "compress china.jpg -k 0",
    "compress china.jpg -k 16 -o x.webp --json",
    "compress china.jpg -k 16 -o x.gif --json",
    "compress china.jpg -k 16 -o x.jpg",
    "compress horse.png -k 2 --metrics ssim,deltae --json",
    "compress china.jpg --sample 2000 -k 16 --method minibatch --json",
    "compress china.jpg -k 16 -n",
    "compress mixed -r -o outdir/ -k 8 --report r.csv --csv -j 1",
    "compress mixed -r -o outdir2/ -k 8 --report r.jsonl --json -j 2",
    "compress mixed -r -o outdir2/ -k 8",
    "compress mixed -r -o outdir2/ -k 8 --skip-existing --json",
    "compress coffee.png -k 16 --skip-if-larger --json",
    "compress china.jpg -k 16 --strip -o s.png",
    "compress camera.png --space lab --dither none -k 8 --json",
    "compare china.jpg -k 16 --json",
    "compare coffee.png -k 8 --methods kmeans,random --side-by-side sheet.png --csv",
    "compare china.jpg -k 8,16",
    "sweep coffee.png -k 4,8,16 --json",
    "sweep camera.png -k 2,4 --methods kmeans,random --csv",
    "sweep camera.png -k 2,4,8 --dither none",
    "sweep coffee.png -k 2,4,8 --methods kmeans,random --plot curves.png --target-psnr 25",
    "compare coffee.png -k 8 --side-by-side zoomed.png --zoom",
    "compress china.jpg -k 32 -O 2 -o o.png --json",
    "compress",
    "compress china.jpg --dither bogus",
    "compress china.jpg -k 8 --palette nopal.gpl",
]


def norm_text(text: str) -> str:
    """Timings and sizes per second out of free text."""
    return re.sub(r"\d+(\.\d+)?\s?(s|ms|MB|MiB|GB|KiB/s|MB/s)\b", "<N>", text)


def _strip_seconds(value):
    if isinstance(value, dict):
        return {k: _strip_seconds(v) for k, v in value.items()
                if not k.startswith("seconds") and k != "start_up"}  # fmt: skip
    if isinstance(value, list):
        return [_strip_seconds(v) for v in value]
    return value


def norm_json_line(line: str) -> str:
    try:
        return json.dumps(_strip_seconds(json.loads(line)), sort_keys=True)
    except ValueError:
        return norm_text(line)


def norm_csv(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or len(rows[0]) < 2:
        return norm_text(text)
    keep = [i for i, h in enumerate(rows[0]) if not h.startswith("seconds")]
    return "\n".join(",".join(r[i] for i in keep if i < len(r)) for r in rows)


def norm_out(text: str, cmd: str) -> str:
    if "--json" in cmd:
        return "\n".join(norm_json_line(line) for line in text.splitlines())
    return norm_csv(text) if "--csv" in cmd else norm_text(text)


def make_folder() -> set[Path]:
    """A fresh RUN folder with the inputs; the files in it."""
    shutil.rmtree(RUN, ignore_errors=True)
    (RUN / "mixed" / "sub").mkdir(parents=True)
    for f in SAMPLES.iterdir():
        if f.suffix != ".md":
            shutil.copy(f, RUN)
    for name in ("camera.png", "horse.png", "advi-anim.gif"):
        shutil.copy(SAMPLES / name, RUN / "mixed" / "sub")
    shutil.copy(SAMPLES / "coffee.png", RUN / "mixed")
    (RUN / "mixed" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (RUN / "bad.png").write_bytes(b"garbage")
    (RUN / "pal.txt").write_text("#000000\n#ffffff\n#ff0000\n#00ff00\n#0000ff\n#808080\n")
    return set(RUN.rglob("*"))


def kquant(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kquant", *args], cwd=RUN, env=env,
                          capture_output=True, text=True)  # fmt: skip


def record(root: str, out: str) -> None:
    env = dict(os.environ, PYTHONPATH=root, COLUMNS="80")
    results = []
    for cmd in CMDS:
        before = make_folder()
        if cmd == BATCH or "--skip-existing" in cmd:  # a batch run before: outputs exist
            kquant([*BATCH.split(), "-q"], env)
            if "--skip-existing" in cmd:
                (RUN / "outdir2" / "coffee-k8.png").unlink()
            before = set(RUN.rglob("*"))
        ran = kquant(cmd.split(), env)
        files = {}
        for path in sorted(set(RUN.rglob("*")) - before):
            if path.is_dir():
                continue
            data = path.read_bytes()
            if path.suffix == ".csv":
                data = norm_csv(data.decode()).encode()
            elif path.suffix == ".jsonl":
                data = "\n".join(map(norm_json_line, data.decode().splitlines())).encode()
            elif path.suffix == ".html":
                data = b"html"  # holds timings
            files[str(path.relative_to(RUN))] = hashlib.sha256(data).hexdigest()[:16]
        results.append({"cmd": cmd, "rc": ran.returncode, "stdout": norm_out(ran.stdout, cmd),
                        "stderr": norm_text(ran.stderr), "files": files})  # fmt: skip
        print(ran.returncode, cmd, len(files), file=sys.stderr)
    Path(out).write_text(json.dumps(results, indent=1))


def diff(a_path: str, b_path: str) -> int:
    def norm(text: str) -> str:
        text = re.sub(r"seconds:.*", "seconds:", text)
        timed = text.lstrip().startswith("k ") or text.split("\n", 1)[0].endswith("seconds")
        return re.sub(r"(?m)\s+[\d.]+$", " <s>", text) if timed else text  # a seconds column

    a, b = json.loads(Path(a_path).read_text()), json.loads(Path(b_path).read_text())
    bad = 0
    for x, y in zip(a, b, strict=True):
        for key in x:
            u, v = x[key], y[key]
            if isinstance(u, str):
                u, v = norm(u), norm(v)
            if u != v:
                bad += 1
                print("DIFF", x["cmd"], key, "\n  ", repr(u)[:400], "\n   VS", repr(v)[:400])
    print(len(a), "commands,", bad, "differences")
    return 1 if bad else 0


if __name__ == "__main__":
    if sys.argv[1] == "--diff":
        sys.exit(diff(sys.argv[2], sys.argv[3]))
    record(sys.argv[1], sys.argv[2])
