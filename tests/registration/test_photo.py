"""R3: the registration photo is a colour JPEG of 20–200 KB, at least 192×144 (height×width),
portrait (48:33) and upright, showing one face framed as the NCRE rules say.

Fixtures are made here from scikit-image's public-domain pictures: ``astronaut()`` (Eileen
Collins' NASA portrait: her face at about x 177–270, y 67–160 of 512×512) cropped to 33:48
around the face and resized to 330×480 (width×height); ``coffee()`` and ``chelsea()`` (a cat)
have no human face."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image
from skimage import data

from bridge.errors import Invalid
from tests.registration.photos import ORIENTATION, SIZE, astronaut, jpeg, padded
from bridge.services.registration.photo import (
    FACE_CENTRE_X,
    FACE_MAX_SHARE,
    FACE_MIN_SHARE,
    MAX_BYTES,
    MIN_BYTES,
    CheckedPhoto,
    check_photo,
)

pytestmark = pytest.mark.req("R3")

def refused(photo: bytes) -> Invalid:
    with pytest.raises(Invalid) as caught:
        check_photo(photo)
    return caught.value


def message(error: Invalid) -> str:
    return error.message % error.params if error.params else error.message


@pytest.fixture(scope="module")
def portrait() -> Image.Image:
    return astronaut()


@pytest.fixture(scope="module")
def good(portrait) -> bytes:
    photo = jpeg(portrait)
    assert MIN_BYTES <= len(photo) <= MAX_BYTES
    return photo


# accepted -------------------------------------------------------------------------------------

def test_good_photo_is_accepted_with_its_face(good):
    started = time.perf_counter()
    checked = check_photo(good)
    elapsed = time.perf_counter() - started

    assert isinstance(checked, CheckedPhoto)
    assert (checked.width, checked.height) == SIZE
    x, y, w, h = checked.face_box
    # the astronaut's face: centred, about 0.44 of the height, in the upper half
    assert FACE_MIN_SHARE <= h / 480 <= FACE_MAX_SHARE
    assert FACE_CENTRE_X[0] <= (x + w / 2) / 330 <= FACE_CENTRE_X[1]
    assert 0.3 <= (y + h / 2) / 480 <= 0.6
    assert checked.jpeg == good  # nothing to normalise: the upload as it came
    assert elapsed < 2, f"check took {elapsed:.2f} s"


def test_file_size_limits_are_inclusive(portrait):
    photo = jpeg(portrait, quality=60)
    assert len(photo) < MIN_BYTES - 4
    for size in (MIN_BYTES, MAX_BYTES):
        assert check_photo(padded(photo, size)).width == 330
    for size, shown in ((MIN_BYTES - 1, "19.99"), (MAX_BYTES + 1, "200.01")):
        error = refused(padded(photo, size))
        assert error.params["size"] == shown


def test_photo_stored_sideways_with_exif_orientation_6_is_accepted_upright(portrait):
    # The camera stored the pixels turned a quarter to the left and wrote Orientation=6
    # ("rotate 90° clockwise to view"); once EXIF is applied the photo is upright.
    stored = portrait.rotate(90, expand=True)
    assert stored.size == (480, 330)
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    exif[0x010F] = "PhoneMaker"  # Make: metadata that must not survive
    upload = jpeg(stored, exif=exif.tobytes())
    assert MIN_BYTES <= len(upload) <= MAX_BYTES

    checked = check_photo(upload)

    assert (checked.width, checked.height) == SIZE
    assert checked.jpeg != upload
    assert MIN_BYTES <= len(checked.jpeg) <= MAX_BYTES
    normalised = Image.open(io.BytesIO(checked.jpeg))
    assert normalised.format == "JPEG"
    assert normalised.size == SIZE
    assert "exif" not in normalised.info
    assert ORIENTATION not in normalised.getexif()
    # the same picture as the upright original, not a mirror or a half turn of it
    diff = np.abs(np.asarray(normalised, dtype=np.int16) - np.asarray(portrait, dtype=np.int16))
    assert diff.mean() < 6
    # and checking it again changes nothing
    assert check_photo(checked.jpeg).jpeg == checked.jpeg


def test_exif_is_stripped_without_reencoding_an_upright_photo(portrait):
    exif = Image.Exif()
    exif[ORIENTATION] = 1
    exif[0x010F] = "PhoneMaker"
    upload = jpeg(portrait, exif=exif.tobytes())
    assert b"PhoneMaker" in upload

    checked = check_photo(upload)

    assert b"PhoneMaker" not in checked.jpeg
    assert b"Exif" not in checked.jpeg
    assert len(checked.jpeg) < len(upload)
    # the compressed image data is untouched: same scan bytes, same decoded pixels
    assert checked.jpeg.endswith(upload[upload.index(b"\xff\xda"):])
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(checked.jpeg))),
                          np.asarray(Image.open(io.BytesIO(upload))))


# 1. JPEG by content ---------------------------------------------------------------------------

def test_png_renamed_jpg_is_refused(portrait):
    out = io.BytesIO()
    portrait.save(out, "PNG")
    png = out.getvalue()  # what "photo.jpg" holds: the name is never looked at
    assert png.startswith(b"\x89PNG")
    assert MIN_BYTES <= len(png)

    error = refused(png)
    assert "not a JPEG" in error.message


def test_bytes_that_only_start_like_a_jpeg_are_refused():
    error = refused(b"\xff\xd8\xff" + b"\x00" * (50 * 1024))
    assert "not a JPEG" in error.message


def test_truncated_jpeg_is_refused_as_damaged(good):
    cut = good[: len(good) * 2 // 3]
    assert len(cut) >= MIN_BYTES
    assert "damaged" in refused(cut).message


# 2. file size ---------------------------------------------------------------------------------

def test_10_kb_photo_is_refused_saying_its_size(portrait):
    quality = 60
    photo = jpeg(portrait, quality=quality)
    while len(photo) > 11 * 1024:
        quality -= 5
        photo = jpeg(portrait, quality=quality)
    assert 9 * 1024 <= len(photo) < MIN_BYTES

    error = refused(photo)
    assert "KB" in error.message
    assert error.params["size"] == f"{int(len(photo) * 100 / 1024) / 100:g}"
    assert "20 KB to 200 KB" in message(error)
    assert 9 <= float(error.params["size"]) < 12


def test_300_kb_photo_is_refused_saying_its_size(portrait):
    rng = np.random.default_rng(3)
    pixels = np.asarray(portrait, dtype=np.int16)
    noisy = np.clip(pixels + rng.normal(0, 22, pixels.shape), 0, 255).astype(np.uint8)
    photo = jpeg(Image.fromarray(noisy), quality=97, subsampling=0)
    assert 260 * 1024 <= len(photo) <= 360 * 1024

    error = refused(photo)
    assert "KB" in error.message
    assert float(error.params["size"]) == pytest.approx(len(photo) / 1024, abs=0.01)
    assert float(error.params["size"]) > 200


# 3. colour ------------------------------------------------------------------------------------

def test_greyscale_photo_is_refused(portrait):
    grey = portrait.convert("L")
    photo = padded(jpeg(grey, quality=95), 40 * 1024)
    assert Image.open(io.BytesIO(photo)).mode == "L"

    assert "black-and-white" in refused(photo).message


def test_greyscale_saved_as_rgb_is_refused(portrait):
    photo = jpeg(portrait.convert("L").convert("RGB"), quality=95)
    assert Image.open(io.BytesIO(photo)).mode == "RGB"
    assert MIN_BYTES <= len(photo) <= MAX_BYTES

    error = refused(photo)
    assert "black-and-white" in error.message
    assert "saved as a colour file" in error.message


def test_cmyk_photo_is_refused(portrait):
    photo = jpeg(portrait.convert("CMYK"), quality=90)
    assert Image.open(io.BytesIO(photo)).mode == "CMYK"
    assert MIN_BYTES <= len(photo) <= MAX_BYTES

    error = refused(photo)
    assert error.params == {"mode": "CMYK"}


# 4. pixel size --------------------------------------------------------------------------------

def test_too_small_photo_is_refused(portrait):
    small = portrait.resize((110, 150), Image.Resampling.LANCZOS)  # 150 high × 110 wide
    photo = padded(jpeg(small, quality=95), 30 * 1024)

    error = refused(photo)
    assert error.params["height"] == 150 and error.params["width"] == 110
    assert "at least 192×144" in message(error)


def test_smallest_allowed_photo_is_accepted(portrait):
    small = portrait.resize((144, 210), Image.Resampling.LANCZOS)  # 210:144 is 48:33 within 1 %
    photo = padded(jpeg(small, quality=95), 25 * 1024)

    assert check_photo(photo).height == 210


def test_decompression_bomb_is_refused_before_decoding(good):
    def declaring(height, width):
        sof = good.index(b"\xff\xc0")
        return (good[:sof + 5] + height.to_bytes(2, "big") + width.to_bytes(2, "big")
                + good[sof + 9:])

    for height, width in ((5000, 4000), (60000, 60000)):
        assert "too many pixels" in refused(declaring(height, width)).message


# 5. proportions -------------------------------------------------------------------------------

def test_landscape_photo_is_refused_as_landscape():
    pixels = data.astronaut()[0:300, 40:476]  # 300 high × 436 wide (33:48 on its side), face upright
    photo = jpeg(Image.fromarray(pixels).resize((480, 330), Image.Resampling.LANCZOS))
    assert MIN_BYTES <= len(photo) <= MAX_BYTES

    error = refused(photo)
    assert "landscape" in error.message
    assert "sideways" not in error.message


def test_square_photo_is_refused_for_its_proportions(portrait):
    photo = jpeg(portrait.resize((400, 400)))

    error = refused(photo)
    assert "48:33" in error.message
    assert error.params["suggested_width"] == 275


@pytest.mark.parametrize("turn", [90, 270])
def test_sideways_photo_is_refused_as_sideways(portrait, turn):
    photo = jpeg(portrait.rotate(turn, expand=True))
    assert Image.open(io.BytesIO(photo)).size == (480, 330)

    assert "sideways" in refused(photo).message


# 6. the face ----------------------------------------------------------------------------------

def test_upside_down_photo_is_refused_as_upside_down(portrait):
    photo = jpeg(portrait.rotate(180))

    assert "upside down" in refused(photo).message


def test_sideways_face_in_a_portrait_frame_is_refused_as_sideways():
    # a portrait-shaped file whose content lies on its side
    landscape = Image.fromarray(data.astronaut()[10:216, 100:400])  # 206 high × 300 wide
    photo = jpeg(landscape.rotate(90, expand=True).resize(SIZE, Image.Resampling.LANCZOS))
    assert Image.open(io.BytesIO(photo)).size == SIZE
    assert "sideways" in refused(photo).message


@pytest.mark.parametrize("picture", ["coffee", "chelsea"])
def test_photo_without_a_face_is_refused(picture):
    pixels = getattr(data, picture)()
    height = pixels.shape[0]
    width = round(height * 33 / 48)
    crop = Image.fromarray(pixels[:, :width]).resize(SIZE, Image.Resampling.LANCZOS)
    photo = jpeg(crop)
    assert MIN_BYTES <= len(photo) <= MAX_BYTES

    error = refused(photo)
    assert "No face found" in error.message
    assert "from the front, upright" in error.message


def test_two_faces_are_refused():
    half = Image.fromarray(data.astronaut()[0:240, 60:390]).resize((330, 240))
    both = Image.new("RGB", SIZE)
    both.paste(half, (0, 0))
    both.paste(half, (0, 240))

    error = refused(jpeg(both))
    assert error.params == {"count": 2}


def test_face_too_small_is_refused():
    photo = jpeg(astronaut(top=0, left=47, height=512))  # the whole picture: face 0.2 high

    error = refused(photo)
    assert "too small" in error.message
    assert error.params["share"] < FACE_MIN_SHARE * 100


def test_face_too_large_is_refused():
    photo = jpeg(astronaut(top=57, left=182, height=120))  # head taller than the frame

    error = refused(photo)
    assert "too large" in error.message
    assert error.params["share"] > FACE_MAX_SHARE * 100


def test_face_off_centre_is_refused():
    photo = jpeg(astronaut(top=0, left=172, height=300))  # face centre at 1/4 of the width

    assert "not centred" in refused(photo).message


def test_head_too_low_is_refused():
    # a tall empty band of backdrop above the head, the face in the bottom quarter
    frame = Image.new("RGB", (206, 300), (40, 90, 200))
    frame.paste(Image.fromarray(data.astronaut()[0:175, 120:326]), (0, 125))
    photo = jpeg(frame.resize(SIZE, Image.Resampling.LANCZOS), quality=95)

    assert "too low" in refused(photo).message
