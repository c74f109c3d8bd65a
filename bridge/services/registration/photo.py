"""The candidate's registration photo (R3): check an upload against the NCRE photo rules and
normalise it. Pure logic: bytes in, a ``CheckedPhoto`` out, or ``Invalid`` saying what to fix.

The rules (seed 003, 报名系统 "上传照片 / 照片规格"): a recent colour ID photo of the candidate,
from the front, bare-headed (正面免冠彩色证件照); saved as JPEG (jpg); 20 KB–200 KB; at least
192×144 pixels (height×width); imaging area 48 mm×33 mm (height×width); framing "上部空1/10，
头部占7/10，肩部占1/5，左右各空1/10"; upright: "不允许上传侧置或倒置的照片" (no sideways or
upside-down photos).

The checks run in a fixed order, so a candidate is told about the first thing to fix: JPEG by
content, file size, colour, pixel size (after EXIF orientation is applied), proportions, the
face. A face is found with OpenCV's Haar frontal-face cascade shipped in the
``opencv-python-headless`` wheel (nothing is downloaded); "bare-headed" and "recent" are left
to the site's review (R4).
"""
from __future__ import annotations

import io
import math
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from bridge.errors import Invalid
from bridge.i18n import N_, format_number

JPEG_MAGIC = b"\xff\xd8\xff"  # SOI and the first marker's 0xFF
MIN_BYTES = 20 * 1024
MAX_BYTES = 200 * 1024
MIN_HEIGHT = 192
MIN_WIDTH = 144
# Refused before decoding: a 200 KB JPEG can declare 65535×65535 pixels (a decompression bomb).
# 16 megapixels is well above a 12 MP phone camera's photo.
MAX_PIXELS = 16_000_000
# 48 mm × 33 mm (height × width); the photo's proportions may be off by this fraction.
ASPECT = 48 / 33
ASPECT_TOLERANCE = 0.10
# Mean per-pixel spread max(R,G,B) - min(R,G,B) (0–255) below which a photo saved as RGB is
# really black-and-white: a greyscale JPEG decodes to identical channels (spread 0); an
# ordinary colour portrait measures 20–100, even a sepia-toned one about 30.
GREY_SPREAD = 3.0
# Where the face must be, derived from the seed's framing "上部空1/10，头部占7/10，肩部占1/5，
# 左右各空1/10" (1/10 free above the head, the head 7/10 of the height, shoulders 1/5, 1/10
# free left and right):
# - The Haar box runs from the brows to the chin, about 2/3 of the crown-to-chin head, so a
#   head of 7/10 gives a box of about 0.47 of the height. We accept a head from about 0.4 of
#   the height (box 0.25: too far away) to about 0.85 (box 0.56: no room above the head or for
#   the shoulders).
FACE_MIN_SHARE = 0.25
FACE_MAX_SHARE = 0.56
# - Equal margins left and right put the head's centre at half the width; its centre must lie
#   within the middle 40 % of the width.
FACE_CENTRE_X = (0.30, 0.70)
# - 1/10 free above a 7/10 head puts the box's centre a little below half the height; it must
#   not sit in the top or bottom quarter (the head cut off at the top, or a lot of empty
#   space above it).
FACE_CENTRE_Y = (0.25, 0.75)
# Detection runs on a copy whose longer side is at most this: the cascade needs ~24 px faces
# and a full-size phone photo would cost far more CPU for the same answer.
DETECT_MAX_SIDE = 320
# Faces smaller than this share of the shorter side are ignored (background clutter).
DETECT_MIN_FACE = 0.12
CASCADE_FILE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class CheckedPhoto:
    """A photo that passed: ``jpeg`` is upright with no EXIF/XMP metadata (re-encoded only if
    EXIF said to rotate it; otherwise the uploaded JPEG data, metadata segments dropped);
    ``face_box`` is (x, y, w, h) in its pixels."""

    jpeg: bytes
    width: int
    height: int
    face_box: tuple[int, int, int, int]


def check_photo(data: bytes) -> CheckedPhoto:
    """Check an uploaded photo against R3 and return it normalised, or raise ``Invalid``."""
    image = _open_jpeg(data)
    _check_file_size(len(data))
    _decode(image)
    _check_colour(image)
    upright, rotated = _apply_orientation(image)
    width, height = upright.size
    _check_pixel_size(width, height)
    grey = _grey_for_detection(upright)
    _check_proportions(width, height, grey)
    face_box = _check_face(grey, width, height)
    jpeg = _reencode(upright, image) if rotated else _strip_metadata(data)
    return CheckedPhoto(jpeg=jpeg, width=width, height=height, face_box=face_box)


# 1. JPEG by content ---------------------------------------------------------------------------

def _open_jpeg(data: bytes) -> Image.Image:
    """The image, its header read (not yet decoded), if the bytes are a JPEG; the file's name
    is never consulted."""
    not_jpeg = Invalid(N_("The file is not a JPEG photo: save your photo as JPEG (.jpg) and "
                          "upload it again."))
    if not isinstance(data, (bytes, bytearray)) or not data.startswith(JPEG_MAGIC):
        raise not_jpeg
    try:
        image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise _too_many_pixels() from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise not_jpeg from None
    if image.format != "JPEG":
        raise not_jpeg
    return image


# 2. file size ---------------------------------------------------------------------------------

def _check_file_size(size: int) -> None:
    if size < MIN_BYTES:
        kb = math.floor(size * 100 / 1024) / 100
        raise Invalid(N_("The photo file is %(size)s KB; it must be from %(min)s KB to %(max)s KB: "
                         "save it at a higher quality or a larger size."),
                      params={"size": format_number(kb), "min": MIN_BYTES // 1024,
                              "max": MAX_BYTES // 1024})
    if size > MAX_BYTES:
        kb = math.ceil(size * 100 / 1024) / 100
        raise Invalid(N_("The photo file is %(size)s KB; it must be from %(min)s KB to %(max)s KB: "
                         "save it at a lower quality or a smaller size."),
                      params={"size": format_number(kb), "min": MIN_BYTES // 1024,
                              "max": MAX_BYTES // 1024})


def _too_many_pixels() -> Invalid:
    return Invalid(N_("The photo has too many pixels to process: make it smaller, e.g. 480×330 "
                      "(height×width)."))


def _decode(image: Image.Image) -> None:
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise _too_many_pixels()
    try:
        image.load()
    except (OSError, SyntaxError, ValueError):
        raise Invalid(N_("The photo file is damaged or incomplete: save it again as JPEG and "
                         "upload it again.")) from None


# 3. colour ------------------------------------------------------------------------------------

def _check_colour(image: Image.Image) -> None:
    if image.mode in ("L", "1", "LA", "I", "I;16", "F"):
        raise Invalid(N_("The photo is black-and-white: upload a colour photo."))
    if image.mode not in ("RGB", "YCbCr"):
        raise Invalid(N_("The photo's colours are stored as %(mode)s (e.g. for printing): save it "
                         "as an ordinary colour (RGB) JPEG."), params={"mode": image.mode})
    pixels = np.asarray(_shrunk(image, 128).convert("RGB"), dtype=np.int16)
    spread = float((pixels.max(axis=2) - pixels.min(axis=2)).mean())
    if spread < GREY_SPREAD:
        raise Invalid(N_("The photo is black-and-white (saved as a colour file): upload a colour "
                         "photo."))


# 4. orientation and pixel size ----------------------------------------------------------------

def _apply_orientation(image: Image.Image) -> tuple[Image.Image, bool]:
    """The image as it is meant to be seen, and whether EXIF said to turn or flip it."""
    orientation = image.getexif().get(0x0112, 1)
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(image), True
    return image, False


def _check_pixel_size(width: int, height: int) -> None:
    # A landscape image big enough when turned is left to the proportions check, which tells
    # a sideways photo from a landscape one.
    short, long = sorted((width, height))
    if long < MIN_HEIGHT or short < MIN_WIDTH:
        raise Invalid(N_("The photo is %(height)s×%(width)s pixels (height×width); it must be at "
                         "least %(min_height)s×%(min_width)s."),
                      params={"height": height, "width": width,
                              "min_height": MIN_HEIGHT, "min_width": MIN_WIDTH})


# 5. proportions -------------------------------------------------------------------------------

def _check_proportions(width: int, height: int, grey: np.ndarray) -> None:
    if width > height:
        if _faces(np.rot90(grey, 1)) or _faces(np.rot90(grey, 3)):
            raise _sideways()
        raise Invalid(N_("The photo is landscape (%(width)s wide, %(height)s high): it must be an "
                         "upright portrait, taller than wide (height:width 48:33)."),
                      params={"height": height, "width": width})
    ratio = height / width
    if abs(ratio / ASPECT - 1) > ASPECT_TOLERANCE:
        raise Invalid(N_("The photo is %(height)s×%(width)s pixels (height×width); its proportions "
                         "must be about 48:33 like an ID photo, e.g. %(height)s×%(suggested_width)s."),
                      params={"height": height, "width": width,
                              "suggested_width": round(height / ASPECT)})


def _sideways() -> Invalid:
    return Invalid(N_("The photo is sideways: turn it upright and upload it again."))


# 6. the face ----------------------------------------------------------------------------------

def _check_face(grey: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    faces = _faces(grey)
    if not faces:
        if _faces(np.rot90(grey, 2)):
            raise Invalid(N_("The photo is upside down: turn it upright and upload it again."))
        if _faces(np.rot90(grey, 1)) or _faces(np.rot90(grey, 3)):
            raise _sideways()
        raise Invalid(N_("No face found: the photo must show your face from the front, upright, "
                         "bare-headed."))
    if len(faces) > 1:
        raise Invalid(N_("The photo shows %(count)s faces: it must show only you."),
                      params={"count": len(faces)})
    scale = width / grey.shape[1]
    x, y, w, h = (round(v * scale) for v in faces[0])
    x, y = max(0, x), max(0, y)
    w, h = min(w, width - x), min(h, height - y)
    share = h / height
    if share < FACE_MIN_SHARE:
        raise Invalid(N_("Your face is too small in the photo (%(share)s%% of its height): come "
                         "closer or crop it so that your head fills about 7/10 of the height."),
                      params={"share": round(share * 100)})
    if share > FACE_MAX_SHARE:
        raise Invalid(N_("Your face is too large in the photo (%(share)s%% of its height): leave "
                         "about 1/10 of the height free above your head and show your shoulders."),
                      params={"share": round(share * 100)})
    centre_x, centre_y = (x + w / 2) / width, (y + h / 2) / height
    if not FACE_CENTRE_X[0] <= centre_x <= FACE_CENTRE_X[1]:
        raise Invalid(N_("Your head is not centred: put it in the middle of the photo, with the "
                         "same space left and right."))
    if centre_y < FACE_CENTRE_Y[0]:
        raise Invalid(N_("Your head is too high in the photo: leave about 1/10 of the height free "
                         "above it."))
    if centre_y > FACE_CENTRE_Y[1]:
        raise Invalid(N_("Your head is too low in the photo: leave only about 1/10 of the height "
                         "free above it, with your shoulders below."))
    return (x, y, w, h)


_detector = None
_detector_lock = threading.Lock()


def _faces(grey: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Upright frontal faces in ``grey`` (x, y, w, h), one per face: a smaller box whose centre
    lies in a bigger one is the same face found twice."""
    global _detector
    import cv2  # heavy: loaded on the first photo, not when the app starts

    grey = np.ascontiguousarray(grey)
    smallest = max(24, round(min(grey.shape) * DETECT_MIN_FACE))
    with _detector_lock:  # one classifier, loaded once; OpenCV does not promise it is reentrant
        if _detector is None:
            detector = cv2.CascadeClassifier(cv2.data.haarcascades + CASCADE_FILE)
            if detector.empty():
                raise RuntimeError(f"OpenCV's {CASCADE_FILE} did not load")
            _detector = detector
        found = _detector.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=5,
                                           minSize=(smallest, smallest))
    boxes = sorted((tuple(int(v) for v in box) for box in found),
                   key=lambda b: b[2] * b[3], reverse=True)
    kept: list[tuple[int, int, int, int]] = []
    for box in boxes:
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        if not any(k[0] <= cx <= k[0] + k[2] and k[1] <= cy <= k[1] + k[3] for k in kept):
            kept.append(box)
    return kept


def _grey_for_detection(image: Image.Image) -> np.ndarray:
    """The upright image as equalised 8-bit grey, its longer side at most DETECT_MAX_SIDE."""
    import cv2

    small = _shrunk(image, DETECT_MAX_SIDE).convert("RGB")
    grey = cv2.cvtColor(np.asarray(small), cv2.COLOR_RGB2GRAY)
    return cv2.equalizeHist(grey)


def _shrunk(image: Image.Image, side: int) -> Image.Image:
    """``image`` with its longer side at most ``side`` (itself if it already is)."""
    width, height = image.size
    scale = side / max(width, height)
    if scale >= 1:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


# the normalised JPEG --------------------------------------------------------------------------

def _reencode(upright: Image.Image, original: Image.Image) -> bytes:
    """The turned image as JPEG, no EXIF, compressed like the upload (its quantisation tables
    and chroma subsampling) so the size stays about the same; stepped down if it would exceed
    MAX_BYTES."""
    options: dict = {"icc_profile": original.info.get("icc_profile")}
    sampling = JpegImagePlugin.get_sampling(original)
    if sampling != -1:
        options["subsampling"] = sampling
    quantization = getattr(original, "quantization", None)
    attempts = [{"qtables": quantization}] if quantization else []
    attempts += [{"quality": q} for q in (90, 80, 70, 60, 50)]
    rgb = upright.convert("RGB")
    jpeg = b""
    for attempt in attempts:
        out = io.BytesIO()
        rgb.save(out, "JPEG", **options, **attempt)
        jpeg = out.getvalue()
        if len(jpeg) <= MAX_BYTES:
            break
    return jpeg


def _strip_metadata(data: bytes) -> bytes:
    """The uploaded JPEG without its APP1 segments (EXIF and XMP: camera, time, GPS position),
    the compressed image untouched; the bytes as they came if there are none. Segments other
    than APP1 (JFIF, ICC colour profile, Adobe colour transform, tables) are kept."""
    data = bytes(data)
    kept = [data[:2]]  # SOI
    pos, dropped = 2, False
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return data  # not a marker where one must be: leave the file as it is
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the rest is image data
            break
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        end = pos + 2 + length
        if length < 2 or end > len(data):
            return data
        if marker == 0xE1:
            dropped = True
        else:
            kept.append(data[pos:end])
        pos = end
    else:
        return data
    if not dropped:
        return data
    kept.append(data[pos:])
    return b"".join(kept)
