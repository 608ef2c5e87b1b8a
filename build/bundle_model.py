"""Make the compact model files in ``resources/models/`` from the trained originals.

Usage: ``python build/bundle_model.py [SOURCE_DIR]`` (default ``../shared/models``).
Writes ``resnet50_fashion.f16.npz`` (float16 weights, ~47 MB instead of 95 MB) and copies the
classifier heads. Run once by a developer; the files are committed and ship with the app.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fashion_desktop.core.embedder import (  # noqa: E402
    build_resnet50,
    save_weights_bundle,
    weights_fingerprint,
)
from fashion_desktop.resources import bundled_heads_path, bundled_weights_path  # noqa: E402


def main() -> int:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "models"
    model = build_resnet50(None)
    model.load_weights(str(source / "resnet50_fashion_notop.weights.h5"))
    weights = model.get_weights()
    out = bundled_weights_path()
    save_weights_bundle(weights, [w.path for w in model.weights], out)
    shutil.copyfile(source / "fashion_heads.npz", bundled_heads_path())
    print(
        f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB), fingerprint "
        f"{weights_fingerprint(weights)[:16]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
