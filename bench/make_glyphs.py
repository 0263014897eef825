"""A 28x28 grayscale data set that is not digits, for checking the training recipe elsewhere.

Letters A-Z and a-z rendered from the TrueType fonts found on the machine (DejaVu under
/usr/share/fonts and matplotlib's bundled DejaVu, STIX and Computer Modern fonts), each with a
random font, letter, size, rotation (+-15 degrees) and position, white on black like MNIST.
Train and test images come from the same generator with different seeds.

Usage (from the repository root; needs Pillow and matplotlib, the bench extra)::

    python bench/make_glyphs.py OUT_FOLDER [--train 60000] [--test 10000]
    python -m training.train --data OUT_FOLDER/glyphs_train.npy --out runs/glyphs \\
        --time-budget 45 --test OUT_FOLDER/glyphs_test.npy

The fonts found decide the images: the folder listing is printed so runs can be compared.
"""

import argparse
import glob
import os
import string
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

LETTERS = string.ascii_letters
MATPLOTLIB_FONTS = ("STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf",
                    "cmr10.ttf", "cmss10.ttf", "cmti10.ttf", "cmtt10.ttf", "cmb10.ttf")


def font_files():
    """The system's DejaVu fonts and matplotlib's bundled text fonts, sorted (the order fixes the images)."""
    import matplotlib

    fonts = sorted(glob.glob("/usr/share/fonts/truetype/dejavu/*.ttf"))
    folder = os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf")
    fonts += [os.path.join(folder, name) for name in MATPLOTLIB_FONTS if os.path.isfile(os.path.join(folder, name))]
    if not fonts:
        raise SystemExit("no fonts found (install matplotlib or fonts-dejavu)")
    return fonts


def render(rng, fonts):
    """One 28x28 uint8 glyph: drawn at 4x on a 112x112 canvas, rotated, shifted, cropped, downsampled."""
    size = int(rng.integers(28, 50))
    font = ImageFont.truetype(fonts[rng.integers(len(fonts))], size)
    canvas = Image.new("L", (112, 112), 0)
    ImageDraw.Draw(canvas).text((56, 56), LETTERS[rng.integers(len(LETTERS))], fill=255, font=font, anchor="mm")
    canvas = canvas.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR)
    dx, dy = rng.integers(-6, 7, size=2)
    canvas = canvas.crop((28 + dx, 28 + dy, 84 + dx, 84 + dy))
    return np.asarray(canvas.resize((28, 28), Image.LANCZOS), dtype=np.uint8)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", help="folder for glyphs_train.npy and glyphs_test.npy")
    parser.add_argument("--train", type=int, default=60000)
    parser.add_argument("--test", type=int, default=10000)
    args = parser.parse_args(argv)
    fonts = font_files()
    print(f"{len(fonts)} fonts: {', '.join(Path(f).name for f in fonts)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, count, seed in (("train", args.train, 1), ("test", args.test, 2)):
        rng = np.random.default_rng(seed)
        np.save(out / f"glyphs_{name}.npy", np.stack([render(rng, fonts) for _ in range(count)]))
        print(f"wrote {out / f'glyphs_{name}.npy'}: {count} images")


if __name__ == "__main__":
    main()
