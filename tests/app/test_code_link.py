"""A code edit in a link (app/lab/code_link.py): what it carries, and every way it can be
wrong, each said plainly; and the lab that shows such code without running it."""

from __future__ import annotations

import base64
import json
import zlib

import pytest

from app.lab.code_link import (
    MAX_INFLATED,
    MAX_LINK,
    CodeLinkError,
    changes,
    decode,
    digest,
    encode,
)
from app.lab.urlstate import to_hash
from app.session.code_runner import editable, shipped_sources

SOURCES = shipped_sources()
SHIPPED = {name: SOURCES[name] for name in editable(SOURCES)}
MASK = "    att = softmax(np.where(causal_mask(*scores.shape[-2:]), scores, -np.inf))\n"
NO_MASK = "    att = softmax(scores)  # no mask: every token sees the future\n"


def without_mask() -> str:
    assert MASK in SHIPPED["layers.py"]
    return SHIPPED["layers.py"].replace(MASK, NO_MASK)


def pack(payload, version: str = "1") -> str:
    """A code part made by hand: `payload` as JSON, deflated, base64url."""
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = packer.compress(data) + packer.flush()
    return f"{version}.{base64.urlsafe_b64encode(packed).decode().rstrip('=')}"


# ---- what a link carries -------------------------------------------------------------------------

@pytest.mark.parametrize("edits", [
    {"layers.py": without_mask()},
    {"layers.py": without_mask(), "sampling.py": "# mine\n" + SHIPPED["sampling.py"]},
    {"model.py": SHIPPED["model.py"] + "\n# ünïcödé 👋 and no newline at the end"},
    {"heads.py": SHIPPED["heads.py"].replace("\n\n", "\n")},  # many small changes
    {"lens.py": ""},  # everything deleted
])
def test_edits_survive_the_round_trip(edits):
    text = encode(edits, SHIPPED)
    assert text.startswith("1.") and len(text) <= MAX_LINK
    assert set(text[2:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                "0123456789-_")  # nothing a URL must escape
    assert decode(text, SHIPPED) == edits


def test_a_typical_one_file_edit_is_a_short_link():
    text = encode({"layers.py": without_mask()}, SHIPPED)
    print(f"\nremoving the causal mask from layers.py: a code part of {len(text)} characters")
    assert len(text) < 300


def test_only_the_changed_lines_travel():
    assert changes("a\nb\nc\n", "a\nB\nc\nd\n") == [[1, 2, ["B\n"]], [3, 3, ["d\n"]]]
    unchanged = encode({"layers.py": SHIPPED["layers.py"]}, SHIPPED)
    assert json.loads(zlib.decompress(base64.urlsafe_b64decode(unchanged[2:] + "=="), -15)) \
        == {}


def test_edits_too_long_for_a_link_say_so():
    rng = __import__("random").Random(0)
    noise = "".join(rng.choice("abcdefghij") for _ in range(20_000))
    with pytest.raises(CodeLinkError, match=f"at most {MAX_LINK:,}. Download them instead"):
        encode({"layers.py": f"# {noise}\n"}, SHIPPED)


# ---- every way a link can be wrong ---------------------------------------------------------------

@pytest.mark.parametrize(("text", "says"), [
    ("1." + "A" * (MAX_LINK), "a link may carry at most"),
    ("2." + pack({})[2:], "in format '2'"),
    ("nodot", "in format 'nodot'"),
    ("1.***", "damaged (not base64)"),
    ("1." + base64.urlsafe_b64encode(b"not deflate at all").decode(), "damaged"),
    (pack({"layers.py": ["x", []]})[:-6], "damaged"),  # cut short
    (pack(b"\xff\xfe not json"), "damaged (not JSON)"),
    (pack([1, 2, 3]), "damaged (it names no file)"),
    (pack({}), "damaged (it names no file)"),
    (pack({"layers.py": "a string"}), "not [file digest, changes]"),
    (pack({"layers.py": [digest(SHIPPED["layers.py"]), [[5, 3, []]]]}), "out of order"),
    (pack({"layers.py": [digest(SHIPPED["layers.py"]), [[0, 10**6, []]]]}), "points outside"),
    (pack({"layers.py": [digest(SHIPPED["layers.py"]), [[4, 5, []], [1, 2, []]]]}),
     "out of order"),
    (pack({"layers.py": [digest(SHIPPED["layers.py"]), [[True, 1, []]]]}),
     "not [start, end, lines]"),
    (pack({"layers.py": [digest(SHIPPED["layers.py"]), [[0, 1, [7]]]]}),
     "not [start, end, lines]"),
    (pack({"nope.py": [digest("x"), []]}), "changes 'nope.py', which is not a file"),
    (pack({"weights.py": [digest(SOURCES["weights.py"]), []]}), "'weights.py', which is not"),
    (pack({"layers.py": ["0123456789ab", []]}), "made for another version of layers.py"),
])
def test_a_bad_code_part_says_what_is_wrong(text, says):
    with pytest.raises(CodeLinkError, match="The lab opened without it") as raised:
        decode(text, SHIPPED)
    assert says in str(raised.value)


def test_a_deflate_bomb_stops_at_the_limit():
    bomb = pack({"layers.py": [digest(SHIPPED["layers.py"]), [[0, 0, ["x" * 5 * 10**6]]]]})
    assert len(bomb) < MAX_LINK  # five million characters, packed into a short link
    with pytest.raises(CodeLinkError, match=f"more than {MAX_INFLATED:,} bytes"):
        decode(bomb, SHIPPED)


def test_an_edit_beyond_the_editors_limit_is_refused():
    big = pack({"layers.py": [digest(SHIPPED["layers.py"]), [[0, 0, ["#" * 99 + "\n"] * 4500]]]})
    with pytest.raises(CodeLinkError, match="would be longer than 400,000 characters"):
        decode(big, SHIPPED)


def test_hostile_text_is_quoted_short_and_kept_as_data():
    evil = '<img src=x onerror="alert(1)">' * 10
    with pytest.raises(CodeLinkError) as raised:
        decode(pack({evil: [digest("x"), []]}), SHIPPED)
    assert len(str(raised.value)) < 200  # quoted, cut to 60 characters
    code = "import os\nos.system('echo pwned')\n"
    edits = decode(pack({"layers.py": [digest(SHIPPED["layers.py"]),
                                       [[0, 0, [code]]]]}), SHIPPED)
    assert edits["layers.py"].startswith(code)  # text, for the reader to read; nothing ran


# ---- the lab: a link's code is shown, and runs on the reader's click --------------------------

def test_a_link_with_code_puts_it_in_the_editor_and_does_not_run_it(session):
    from app.lab.page import Lab

    edits = {"layers.py": without_mask()}
    lab = Lab(session=session, state=f"view=next&code={encode(edits, SHIPPED)}")
    code = lab.views["code"]
    assert code.edits == edits and code.linked == edits and code.file == "layers.py"
    assert session.engine.edited == ()  # not run
    assert code.editor.value == edits["layers.py"]
    assert any("It has not run" in note for note in lab.link_notes)
    banner = code._banner.object
    assert "This link brings code: changes to layers.py" in banner
    assert "-    att = softmax(np.where(causal_mask(*scores.shape[-2:]), scores, -np.inf))" \
        in banner and "+    att = softmax(scores)  # no mask" in banner
    assert "code=" not in to_hash(lab.state())  # the address keeps only the state
    code.run()  # the reader's click
    assert session.engine.edited == ("layers.py",) and code.linked == {}
    assert code._banner.object.count("brings code") == 0
    code.reset(list(code.shipped))
    assert session.engine.edited == ()


def test_a_bad_code_part_opens_the_lab_without_it(session):
    from app.lab.page import Lab

    evil = pack({"<script>alert(1)</script>.py": [digest("x"), []]})
    for text, says in ((evil, "not a file the editor offers"), ("1.***", "damaged"),
                       ("1." + "A" * (MAX_LINK + 1), "at most 8,000")):
        lab = Lab(session=session, state=f"view=code&code={text}")
        assert any(says in note for note in lab.link_notes), lab.link_notes
        assert lab.views["code"].edits == {} and session.engine.edited == ()
        if text == evil:  # the notice quotes the name, escaped
            assert "<script>" not in lab._notes.object
            assert "&lt;script&gt;" in lab._notes.object


def test_the_share_bar_offers_the_link_with_the_code(session):
    from app.lab.page import Lab

    lab = Lab(session=session, state="view=code")
    code = lab.views["code"]
    assert lab.share.code == "" and not lab.share.code_switch.visible
    code.edits = {"layers.py": without_mask()}
    assert lab.share.code_switch.visible and "code=" not in lab.share.link.value
    lab.share.with_code = True
    link = lab.share.link.value
    assert link.startswith("#view=code&code=1.")
    assert decode(link.split("code=", 1)[1], SHIPPED) == code.edits
    assert "code=1." in lab.share.snippet.value
    rng = __import__("random").Random(1)
    code.edits = {"layers.py": "".join(rng.choice("abcdefgh") for _ in range(30_000))}
    assert lab.share.code == "" and "Download them instead" in lab.share.code_note
