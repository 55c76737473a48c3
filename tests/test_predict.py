"""nnreg.predict and nnreg.images: a trained network reads new files as its training data
were made. References: the network's own feedforward on the data set's inputs, digits
framed by hand the MNIST way, IDX files written here byte by byte."""

import gzip
import json
import struct

import numpy as np
import pytest
from PIL import Image

import nnreg
from nnreg.checkpoints import save_parameters
from nnreg.images import InputFileError
from nnreg.predict import (
    Prediction,
    RunFolderError,
    format_predictions,
    load_trained,
    output_probabilities,
    predict_files,
    read_inputs,
)
from nnreg.runs import create_run_folder
from nnreg.session import TrainSettings, run_training


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits") / "run"
    run_training(TrainSettings(epochs=5), out=folder)
    return folder


def fake_run(folder, sizes, data="mnist", cost="cross-entropy", activation="sigmoid"):
    """A run folder as nnreg train leaves it, with an untrained network (seed 0)."""
    network = nnreg.Network(sizes, activation, cost, rng=0)
    settings = {"data": data, "sizes": sizes, "activation": activation, "cost": cost}
    create_run_folder(folder, {"settings": settings})
    save_parameters(folder / "parameters.npz", network.weights, network.biases)
    return folder


def write_idx(path, array):
    """An IDX file of unsigned bytes: 0, 0, type 0x08, the dimension count, big-endian sizes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as handle:
        handle.write(data)


def save_png(path, pixels):
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(path)
    return path


# (a) a run trained on the digits reads the test set from files as from its own data


def test_digits_test_images_as_8x8_pngs_give_the_networks_own_outputs(digits_run, digits, tmp_path):
    test = digits["test"]
    network = nnreg.load_network(digits_run)
    paths = [
        save_png(tmp_path / f"{i}.png", np.round(row.reshape(8, 8) * 255))
        for i, row in enumerate(test.inputs)
    ]
    predictions = predict_files(digits_run, paths)
    trained = load_trained(digits_run)
    inputs = np.concatenate([read_inputs(path, trained)[0] for path in paths])
    assert np.array_equal(inputs, test.inputs)  # the sixteenths come back exactly
    reference = network.feedforward(test.inputs)
    outputs = np.array([p.outputs for p in predictions])
    # one picture at a time against the whole set in one product: equal up to rounding
    np.testing.assert_allclose(outputs, reference, rtol=1e-12, atol=1e-15)
    labels = np.array([p.label for p in predictions])
    assert np.array_equal(labels, np.argmax(reference, axis=1))
    assert np.mean(labels == test.labels) >= 0.9
    assert [p.file for p in predictions] == [str(path) for path in paths]
    assert all(p.index == 0 and p.preparation == "8×8 as it is" for p in predictions)


@pytest.mark.parametrize(
    "shape, codes",
    [((-1, 8, 8), False), ((-1, 64), False), ((-1, 8, 8), True), ((-1, 64), True)],
    ids=["float-stack", "float-rows", "code-stack", "code-rows"],
)
def test_digits_test_set_as_npy_gives_the_networks_own_outputs(
    digits_run, digits, tmp_path, shape, codes
):
    test = digits["test"]
    array = np.round(test.inputs * 16).astype(np.uint8) if codes else test.inputs
    path = tmp_path / "test.npy"
    np.save(path, array.reshape(shape))
    predictions = predict_files(digits_run, [path])
    reference = nnreg.load_network(digits_run).feedforward(test.inputs)
    assert [p.index for p in predictions] == list(range(len(test)))
    assert np.array_equal(np.array([p.outputs for p in predictions]), reference)
    assert predictions[0].preparation == ("codes ÷ 16" if codes else "as they are")


@pytest.mark.parametrize("name", ["digits-idx3-ubyte", "digits-idx3-ubyte.gz"])
def test_an_idx_file_gives_one_prediction_per_image(digits_run, digits, tmp_path, name):
    test = digits["test"]
    write_idx(tmp_path / name, np.round(test.inputs * 16).reshape(-1, 8, 8))
    predictions = predict_files(digits_run, [tmp_path / name])
    network = nnreg.load_network(digits_run)
    assert [p.index for p in predictions] == list(range(len(test)))
    assert [p.label for p in predictions] == network.predict(test.inputs).tolist()


def test_a_float32_network_gets_float32_inputs_as_in_training(digits, tmp_path):
    run_training(TrainSettings(epochs=1, dtype="float32"), out=tmp_path / "run")
    test = digits["test"]
    np.save(tmp_path / "test.npy", test.inputs)
    predictions = predict_files(tmp_path / "run", [tmp_path / "test.npy"])
    network = nnreg.load_network(tmp_path / "run")
    reference = network.feedforward(test.float_inputs(np.float32))
    assert reference.dtype == np.float32
    assert np.array_equal(np.array([p.outputs for p in predictions], np.float32), reference)


def test_a_saved_network_file_is_framed_by_its_input_count(tmp_path):
    for inputs, divisor in ((64, 16), (784, 255)):
        path = nnreg.Network([inputs, 5, 10], rng=0).save(tmp_path / f"net{inputs}")
        assert load_trained(path).framing.divisor == divisor


def test_one_flattened_row_and_one_image_each_give_one_prediction(digits_run, digits, tmp_path):
    row = digits["test"].inputs[7]
    np.save(tmp_path / "row.npy", row)
    np.save(tmp_path / "image.npy", row.reshape(8, 8))
    first, second = predict_files(digits_run, [tmp_path / "row.npy", tmp_path / "image.npy"])
    assert first.outputs == second.outputs and first.index == second.index == 0


# (b) framing a picture as the training images were made


GLYPH = np.zeros((20, 12))  # an asymmetric "7" on a coarse grid: heavy top bar, thin stem
GLYPH[0:4, :] = 1
GLYPH[4:20, 7:9] = 1
GLYPH[10:12, 4:11] = 1


def big_drawing(ink, paper, scale=10, canvas=(500, 400), at=(37, 211)):
    """GLYPH drawn ``scale`` times bigger at ``at`` in a canvas: ink and paper grey levels."""
    picture = np.full(canvas, paper, dtype=np.uint8)
    big = np.kron(GLYPH, np.ones((scale, scale)))
    top, left = at
    picture[top : top + big.shape[0], left : left + big.shape[1]] = np.where(big > 0, ink, paper)
    return picture


def mnist_by_hand(glyph):
    """The glyph (already 20 px tall) placed in 28×28 so that its centre of mass is the
    nearest whole-pixel shift from (14, 14)."""
    rows, columns = np.mgrid[: glyph.shape[0], : glyph.shape[1]]
    mass = glyph.sum()
    top = int(np.floor(14 - (glyph * rows).sum() / mass + 0.5))
    left = int(np.floor(14 - (glyph * columns).sum() / mass + 0.5))
    field = np.zeros((28, 28))
    field[top : top + glyph.shape[0], left : left + glyph.shape[1]] = glyph
    return field


def test_an_off_centre_dark_on_white_drawing_is_framed_as_mnist_by_hand(tmp_path):
    trained = load_trained(fake_run(tmp_path / "run", [784, 10, 10]))
    path = save_png(tmp_path / "seven.png", big_drawing(ink=0, paper=255))
    inputs, preparation = read_inputs(path, trained)
    field = inputs.reshape(28, 28)
    assert np.array_equal(field, mnist_by_hand(GLYPH))
    rows, columns = np.mgrid[:28, :28]
    centre = ((field * rows).sum() / field.sum(), (field * columns).sum() / field.sum())
    assert np.allclose(centre, (14, 14), atol=1)
    ink_rows, ink_columns = np.flatnonzero(field.any(1)), np.flatnonzero(field.any(0))
    assert (np.ptp(ink_rows) + 1, np.ptp(ink_columns) + 1) == (20, 12)  # aspect ratio kept
    assert preparation.startswith("inverted (light paper)")


@pytest.mark.parametrize("variant", ["white-on-black", "grey-paper", "transparent", "rgb-jpeg"])
def test_a_drawing_reads_the_same_whatever_its_paper(tmp_path, variant):
    trained = load_trained(fake_run(tmp_path / "run", [784, 10, 10]))
    expected = mnist_by_hand(GLYPH).reshape(1, -1)
    if variant == "white-on-black":
        path = save_png(tmp_path / "a.png", big_drawing(ink=255, paper=0))
    elif variant == "grey-paper":  # a pencil on grey paper: the contrast is stretched
        path = save_png(tmp_path / "a.png", big_drawing(ink=90, paper=200))
    elif variant == "transparent":  # a web canvas: black strokes on nothing
        alpha = big_drawing(ink=255, paper=0)
        rgba = np.zeros(alpha.shape + (4,), np.uint8)
        rgba[..., 3] = alpha
        path = tmp_path / "a.png"
        Image.fromarray(rgba, "RGBA").save(path)
    else:
        rgb = np.stack([big_drawing(ink=20, paper=235)] * 3, axis=-1)
        path = tmp_path / "a.jpg"
        Image.fromarray(rgb).save(path, quality=90)
    inputs, _ = read_inputs(path, trained)
    tolerance = 0.1 if variant == "rgb-jpeg" else 0.0  # JPEG's ringing near the edges
    assert np.abs(inputs - expected).max() <= tolerance + 1e-12


def test_a_picture_already_28x28_is_taken_as_it_is(tmp_path):
    trained = load_trained(fake_run(tmp_path / "run", [784, 10, 10]))
    pixels = np.random.default_rng(3).integers(0, 256, (28, 28))
    pixels[0, :] = pixels[-1, :] = pixels[:, 0] = pixels[:, -1] = 0  # black paper
    inputs, _ = read_inputs(save_png(tmp_path / "dark.png", pixels), trained)
    assert np.array_equal(inputs.reshape(28, 28), pixels / 255)
    inverted, how = read_inputs(save_png(tmp_path / "light.png", 255 - pixels), trained)
    assert np.allclose(inverted.reshape(28, 28), pixels / 255, atol=1e-15)
    assert how == "inverted (light paper), 28×28 as it is"


def test_a_digits_drawing_fills_the_8_rows_in_sixteenths_centred_by_its_box(tmp_path):
    trained = load_trained(fake_run(tmp_path / "run", [64, 10, 10], data="digits"))
    path = save_png(tmp_path / "seven.png", big_drawing(ink=0, paper=255, scale=8))
    field = read_inputs(path, trained)[0].reshape(8, 8)
    assert np.array_equal(field * 16, np.round(field * 16))
    assert np.all(field.any(axis=1))  # every row holds ink, as in every digits image
    columns = np.flatnonzero(field.any(axis=0))  # 12 / 20 of 8 rows: 5 columns, centred
    assert columns.tolist() == [1, 2, 3, 4, 5]


def test_mnist_test_images_read_from_pictures_as_from_the_raw_data(mnist_folder, tmp_path):
    from nnreg.datasets.idx import read_idx

    run_training(TrainSettings(data=str(mnist_folder), epochs=1), out=tmp_path / "run")
    trained = load_trained(tmp_path / "run")
    images = read_idx(mnist_folder / "t10k-images-idx3-ubyte.gz")[:200]
    raw = trained.network.predict(images.reshape(-1, 784) / 255.0)
    same_size = [save_png(tmp_path / f"{i}.png", image) for i, image in enumerate(images)]
    assert [p.label for p in predict_files(trained, same_size)] == raw.tolist()
    # the same digits drawn 4× bigger, dark on white, anywhere in a bigger page: framed
    # again they are read the same (nearly always: whole-pixel centring may differ by one)
    rng = np.random.default_rng(0)
    pages = []
    for i, image in enumerate(images):
        page = np.full((200, 180), 255, np.uint8)
        top, left = rng.integers(0, 200 - 112), rng.integers(0, 180 - 112)
        page[top : top + 112, left : left + 112] = 255 - np.kron(image, np.ones((4, 4)))
        pages.append(save_png(tmp_path / f"page{i}.png", page))
    labels = np.array([p.label for p in predict_files(trained, pages)])
    assert np.mean(labels == raw) >= 0.97


# outputs, probabilities and their text and JSON forms


@pytest.mark.parametrize(
    "cost, activation, sums_to_one",
    [
        ("log-likelihood", "sigmoid", True),
        ("cross-entropy", "sigmoid", True),
        ("quadratic", "sigmoid", True),
        ("quadratic", "tanh", None),
    ],
)
def test_probabilities_are_softmax_or_normalised_sigmoid_outputs(cost, activation, sums_to_one):
    network = nnreg.Network([5, 4, 3], activation, cost, rng=1)
    inputs = np.random.default_rng(2).random((6, 5))
    outputs = network.feedforward(inputs)
    probabilities = output_probabilities(network, outputs)
    if sums_to_one is None:
        assert probabilities is None
        return
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-12)
    reference = outputs if cost == "log-likelihood" else outputs / outputs.sum(1, keepdims=True)
    np.testing.assert_allclose(probabilities, reference, rtol=1e-12)


def test_text_lines_name_each_example_with_its_class_and_top_probabilities():
    two = [(0.1, 0.2, 0.7), (0.5, 0.3, 0.2)]
    predictions = [
        Prediction("a.npy", i, int(np.argmax(p)), str(np.argmax(p)), p, p, "as they are")
        for i, p in enumerate(two)
    ]
    predictions.append(Prediction("shoe.png", 0, 1, "Trouser", None, (-0.5, 0.9, 0.1), ""))
    assert format_predictions(predictions, top=2) == [
        "a.npy[0]  2   p 2: 0.700, 1: 0.200",
        "a.npy[1]  0   p 0: 0.500, 1: 0.300",
        "shoe.png  1 (Trouser)   outputs 1: 0.900, 2: 0.100",
    ]
    assert format_predictions(predictions[:1], top=0) == ["a.npy  2"]
    record = json.loads(json.dumps([p.as_dict() for p in predictions]))
    assert record[2] == {
        "file": "shoe.png",
        "index": 0,
        "label": 1,
        "class_name": "Trouser",
        "probabilities": None,
        "outputs": [-0.5, 0.9, 0.1],
        "preparation": "",
    }


def test_a_fashion_mnist_run_names_its_classes(tmp_path):
    run = fake_run(tmp_path / "run", [784, 10, 10], data="fashion-mnist")
    np.save(tmp_path / "x.npy", np.linspace(0, 1, 784 * 4).reshape(4, 28, 28))
    names = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt")
    names += ("Sneaker", "Bag", "Ankle boot")
    for prediction in predict_files(run, [tmp_path / "x.npy"]):
        assert prediction.class_name == names[prediction.label]


def test_a_network_with_non_square_inputs_takes_arrays_of_exactly_its_inputs(tmp_path):
    run = fake_run(tmp_path / "run", [10, 4, 3], data=str(tmp_path / "data"))
    np.save(tmp_path / "rows.npy", np.linspace(0, 1, 30).reshape(3, 10))
    write_idx(tmp_path / "rows-idx2-ubyte", np.arange(20).reshape(2, 10))
    predictions = predict_files(run, [tmp_path / "rows.npy", tmp_path / "rows-idx2-ubyte"])
    assert [p.index for p in predictions] == [0, 1, 2, 0, 1]
    network = nnreg.load_network(run)
    expected = network.feedforward(np.arange(20).reshape(2, 10) / 255)
    assert np.array_equal(np.array([p.outputs for p in predictions[3:]]), expected)


# (c) every mistake: a ValueError naming the file and saying what to do, no traceback


def bad_files(folder):
    """name -> (the file to give, words its message must hold)."""
    png = folder / "good.png"
    save_png(png, big_drawing(ink=0, paper=255))
    data = png.read_bytes()
    cases = {
        "text": ("notes.png", b"this is not a picture\n", "not a picture"),
        "empty": ("empty.png", b"", "is empty"),
        "truncated-png": ("truncated.png", data[: len(data) // 2], "damaged or truncated"),
        "corrupt-png": ("corrupt.png", data[:60] + b"\xff" * 40 + data[100:], "damaged"),
        "blank-picture": ("blank.png", None, "no ink"),
        "npy-100-features": ("hundred.npy", np.zeros((3, 100)), "100 values per example"),
        "npy-10x10": ("small.npy", np.zeros((10, 10)), "never resized"),
        "npy-objects": ("objects.npy", np.array([{}], dtype=object), "not a readable .npy"),
        "npy-over-1": ("bright.npy", np.full((28, 28), 255.0), "divide grey levels"),
        "npy-nan": ("nan.npy", np.full(784, np.nan), "NaN"),
        "npy-empty": ("none.npy", np.zeros((0, 784)), "no examples"),
        "npy-strings": ("words.npy", np.full(784, "a"), "integer codes or floats"),
        "idx-labels": ("labels-idx1-ubyte", np.arange(5), "5 values per example"),
        "idx-truncated": ("cut-idx3-ubyte", b"\0\0\x08\x03\0\0\0\x09\0\0\0\x1c", "truncated"),
    }
    made = {}
    for name, (file, content, words) in cases.items():
        path = folder / file
        if content is None:
            save_png(path, np.full((40, 30), 200))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif file.endswith(".npy"):
            np.save(path, content, allow_pickle=True)
        else:
            write_idx(path, content)
        made[name] = (path, words)
    made["missing"] = (folder / "nowhere.png", "no such file")
    made["folder"] = (folder, "is a folder")
    return made


def assert_clear(error, path, words):
    message = str(error.value)
    assert isinstance(error.value, ValueError)
    assert str(path) in message and words in message, message
    # raised on its own or "from None": no NumPy or Pillow traceback is printed with it
    cause = error.value.__cause__ or (
        None if error.value.__suppress_context__ else error.value.__context__
    )
    assert cause is None, repr(cause)
    assert "Traceback" not in message


BAD = [
    "text",
    "empty",
    "truncated-png",
    "corrupt-png",
    "blank-picture",
    "npy-100-features",
    "npy-10x10",
    "npy-objects",
    "npy-over-1",
    "npy-nan",
    "npy-empty",
    "npy-strings",
    "idx-labels",
    "idx-truncated",
    "missing",
    "folder",
]


@pytest.mark.parametrize("case", BAD)
def test_every_bad_file_raises_a_clear_error_naming_it(tmp_path, case):
    run = fake_run(tmp_path / "run", [784, 10, 10])
    (tmp_path / "files").mkdir()
    path, words = bad_files(tmp_path / "files")[case]
    with pytest.raises(InputFileError) as error:
        predict_files(run, [path])
    assert_clear(error, path, words)


def test_codes_beyond_the_training_divisor_are_refused(digits_run, tmp_path):
    path = tmp_path / "bytes.npy"
    np.save(path, np.full((8, 8), 255, np.uint8))  # 0–255 grey levels for a 0–16 network
    with pytest.raises(InputFileError) as error:
        predict_files(digits_run, [path])
    assert_clear(error, path, "codes 0–16")


def test_a_picture_for_a_network_with_non_square_inputs_is_refused(tmp_path):
    run = fake_run(tmp_path / "run", [10, 4, 3], data=str(tmp_path / "data"))
    path = save_png(tmp_path / "a.png", big_drawing(ink=0, paper=255))
    with pytest.raises(InputFileError) as error:
        predict_files(run, [path])
    assert_clear(error, path, "not a square picture")


@pytest.mark.parametrize("case", ["not-a-run", "no-parameters", "diverged", "missing", "damaged"])
def test_a_folder_without_a_trained_network_raises_a_clear_error(tmp_path, case):
    folder = tmp_path / "run"
    words = {
        "not-a-run": "not an nnreg run folder",
        "no-parameters": "nnreg train --resume",
        "diverged": "smaller --eta",
        "missing": "no such file or folder",
        "damaged": "not a readable nnreg parameter file",
    }[case]
    if case == "not-a-run":
        folder.mkdir()
    elif case in ("no-parameters", "diverged"):
        create_run_folder(folder, {"settings": {"data": "digits"}})
        if case == "diverged":  # ended, with no epoch that did not diverge
            (folder / "summary.json").write_text("{}")
    elif case == "damaged":
        fake_run(folder, [784, 10, 10])
        (folder / "parameters.npz").write_bytes(b"PK\x03\x04 not a zip")
    picture = save_png(tmp_path / "a.png", big_drawing(ink=0, paper=255))
    with pytest.raises(RunFolderError) as error:
        predict_files(folder, [picture])
    assert_clear(error, folder, words)


# the command: every file it can read is classified, every other one named, exit 2
def test_the_command_classifies_the_good_files_and_names_the_bad_ones(digits_run, digits, tmp_path):
    from click.testing import CliRunner

    from nnreg.cli import main

    good = tmp_path / "three.npy"
    np.save(good, digits["test"].inputs[:3])
    bad = tmp_path / "notes.png"
    bad.write_text("not a picture")
    runner = CliRunner()
    result = runner.invoke(main, ["predict", str(digits_run), str(good), str(bad), "--top", "0"])
    assert result.exit_code == 2
    expected = digits_run_labels(digits_run, digits["test"].inputs[:3])
    lines = [line for line in result.stdout.splitlines() if "three.npy[" in line]
    assert [int(line.split()[1]) for line in lines] == expected
    assert "notes.png is not a picture" in " ".join(result.stderr.split())
    assert "Traceback" not in result.output

    result = runner.invoke(main, ["predict", str(digits_run), str(good), "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert [p["label"] for p in answer["predictions"]] == expected and answer["errors"] == []


def digits_run_labels(folder, inputs):
    from nnreg.network_files import load_network

    network = load_network(folder)
    return np.argmax(network.feedforward(inputs), axis=1).tolist()


@pytest.mark.parametrize(
    "arguments, message",
    [(["nowhere", "x.png"], "nowhere: no such file or folder"), ([], "Missing argument")],
)
def test_the_command_refuses_a_missing_run_folder_or_files(arguments, message, tmp_path):
    from click.testing import CliRunner

    from nnreg.cli import main

    result = CliRunner().invoke(main, ["predict", *arguments])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fifo_or_device_named_like_a_picture_is_refused_without_waiting(
    kind, digits_run, tmp_path
):
    import os

    path = tmp_path / "seven.png"
    if kind == "fifo":
        os.mkfifo(path)  # nothing ever writes into it: reading it would wait forever
    else:
        path.symlink_to("/dev/zero")
    trained = load_trained(digits_run)
    with pytest.raises(InputFileError, match="is not a plain file"):
        predict_files(trained, [path])
