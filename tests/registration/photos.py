"""Registration photos for tests, made from scikit-image's public-domain pictures:
``astronaut()`` (Eileen Collins' NASA portrait) cropped to 33:48 around the face; ``coffee()``
has no face. ``samples()`` gives one photo per rule, for the walk in the browser."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image
from skimage import data

SIZE = (330, 480)  # width × height, 33:48
ORIENTATION = 0x0112


def astronaut(top: int = 4, left: int = 144, height: int = 232) -> Image.Image:
    """A 33:48 crop of the astronaut picture, resized to 330×480; the defaults frame her face
    as the seed asks (face centred, head about 2/3 of the height)."""
    width = round(height * 33 / 48)
    pixels = data.astronaut()[top:top + height, left:left + width]
    assert pixels.shape[:2] == (height, width), "crop runs off the picture"
    return Image.fromarray(pixels).resize(SIZE, Image.Resampling.LANCZOS)


def jpeg(image: Image.Image, quality: int = 90, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, **options)
    return out.getvalue()


def padded(photo: bytes, size: int) -> bytes:
    """``photo`` made exactly ``size`` bytes long with comment (COM) segments after SOI: still a
    valid JPEG of the same pixels."""
    missing = size - len(photo)
    assert missing == 0 or missing >= 4
    segments = []
    while missing:
        chunk = min(missing, 65535 + 2)  # marker (2) + length (2) + up to 65533 bytes
        if 0 < missing - chunk < 4:
            chunk -= 4
        segments.append(b"\xff\xfe" + (chunk - 2).to_bytes(2, "big") + b"c" * (chunk - 4))
        missing -= chunk
    result = photo[:2] + b"".join(segments) + photo[2:]
    assert len(result) == size
    return result



def samples() -> dict[str, bytes]:
    """One photo per refusal the registration page explains, and a good one."""
    portrait = astronaut()
    rng = np.random.default_rng(7)
    noisy = np.clip(np.asarray(portrait, dtype=np.int16) + rng.integers(-60, 60, (480, 330, 3)), 0, 255)
    png = io.BytesIO()
    portrait.save(png, "PNG")
    coffee = data.coffee()
    no_face = Image.fromarray(coffee[:, :round(coffee.shape[0] * 33 / 48)]).resize(SIZE, Image.Resampling.LANCZOS)
    return {
        "good": jpeg(portrait),
        "png": png.getvalue(),
        "10kb": padded(jpeg(portrait.resize((144, 210)), quality=20), 10 * 1024),
        "300kb": jpeg(Image.fromarray(noisy.astype(np.uint8)), quality=97, subsampling=0),
        "greyscale": padded(jpeg(portrait.convert("L"), quality=95), 40 * 1024),
        "small": padded(jpeg(portrait.resize((110, 150), Image.Resampling.LANCZOS), quality=95), 30 * 1024),
        "landscape": jpeg(Image.fromarray(data.astronaut()[:330, :480]).resize((480, 330))),
        "sideways": jpeg(portrait.rotate(90, expand=True)),
        "upside_down": jpeg(portrait.rotate(180)),
        "no_face": jpeg(no_face),
    }
