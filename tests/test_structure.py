"""Printed structure is found by one mechanism judged against the writing (preprocess.printed_lines):
on masks drawn here, a comb's teeth, a fill-in line and a box of any margin go, while a digit's own
straight strokes (a 1, also where it stands on a line) stay; on forms of scripts/forms.py's tune
part, predict reads the numbers and answers no blank form. The answers are the FP32 ONNX model's,
so no test depends on a CPU's INT8 kernels."""

from __future__ import annotations

from pathlib import Path

import dress
import numpy as np
import pytest
from helpers import (
    bar,
    closed_display,
    display_and_body,
    face_on_table,
    forms,
    framed_cut,
    labelled_display,
    one_and_seven,
    printed_38,
    read_sure,
    ring,
    segments,
    shadowed_page,
    time_of_day,
    window_side,
)
from PIL import Image

from vit_edge.device import preprocess as pp

ROOT = Path(__file__).resolve().parent.parent


def test_comb_teeth_go_and_a_written_one_stays():
    """Teeth rising from a comb's bottom line (0.4 of a digit tall, far under LINE_ASPECT) are printed:
    bars side by side at one pitch, of one length. A plumb 1 written in a cell is a straight bar too,
    but one of its kind: it stays whole, and so does the 0 beside it."""
    m = np.zeros((300, 700), bool)
    bar(m, 250, 252, 40, 662)  # the bottom line
    for x in range(40, 661, 124):
        bar(m, 210, 252, x, x + 2)  # teeth
    bar(m, 110, 240, 100, 104)  # a 1, 130 px
    ring(m, 110, 180, 130, 90)  # a 0
    lines = pp.printed_lines(m)
    teeth = np.zeros_like(m)
    for x in range(40, 661, 124):
        bar(teeth, 210, 250, x, x + 2)
    assert lines[teeth].all() and lines[250:252, 40:662].all()
    assert (
        not lines[110:240, 100:104].any() and not (lines & ~teeth & ~(np.arange(300)[:, None] >= 250)).any()
    )


def test_bars_at_one_pitch_that_nothing_joins_stay():
    """A row of seven-segment digits is straight bars at one pitch, of one length and thickness, as
    a comb's teeth are; but no spine joins them (_spine), so they are writing. A comb's teeth (bars,
    short of LINE_ASPECT) without their bottom line stay for the same reason; with it they go."""
    m = np.zeros((200, 500), bool)
    for k, lit in enumerate(("abcdefg", "abcdfg", "abcdefg", "abcdef")):  # 8 9 8 0
        segments(m, 40, 40 + 110 * k, 120, 70, lit)
    assert not pp.printed_lines(m).any()
    teeth = np.zeros((300, 700), bool)
    for x in range(40, 661, 124):
        bar(teeth, 210, 250, x, x + 4)  # (10 times as long as thick: bars, not lines)
    ring(teeth, 110, 180, 130, 90)
    assert not pp.printed_lines(teeth).any()
    bar(teeth, 250, 254, 40, 664)
    assert pp.printed_lines(teeth)[210:250, 40:44].all()


def test_a_fill_in_line_goes_under_digits_standing_on_it():
    """One line, no company: printed because it is long beside the writing (LINE_SPAN of its height).
    Where a digit stands on it, the stroke keeps its pixels there."""
    m = np.zeros((300, 800), bool)
    bar(m, 220, 222, 50, 750)
    for left, top, width in ((200, 100, 90), (320, 112, 76), (440, 94, 84)):
        ring(m, top, left, 221 - top, width)  # each 0 touches the line
    lines = pp.printed_lines(m)
    assert lines[220:222].sum() >= 0.9 * 2 * 700
    assert not lines[:219].any()


def test_a_lone_straight_one_and_a_pair_stay():
    """With no other writing there is nothing to judge against: plumb strokes alone are no form."""
    m = np.zeros((400, 400), bool)
    bar(m, 50, 350, 190, 193)
    assert not pp.printed_lines(m).any()
    bar(m, 50, 350, 250, 253)
    assert not pp.printed_lines(m).any()


@pytest.mark.parametrize("margin", [0.05, 0.4, 0.8])
def test_a_box_of_any_margin_goes(margin: float):
    """A box is a frame around the writing (level lines FRAME of its height apart, plumb ones as far),
    whatever its margin and its size on the page; the 0 inside stays."""
    m = np.zeros((600, 800), bool)
    h = 120
    gap = round(margin * h)
    top, left = 200, 300
    ring(m, top, left, h, 90)
    t, b, l_, r = top - gap, top + h + gap, left - gap, left + 90 + gap
    for rows, cols in (
        ((t, t + 2), (l_, r)),
        ((b, b + 2), (l_, r + 2)),
        ((t, b), (l_, l_ + 2)),
        ((t, b), (r, r + 2)),
    ):
        bar(m, *rows, *cols)
    lines = pp.printed_lines(m)
    frame = m.copy()
    frame[t + 2 : b, l_ + 2 : r] = False
    assert lines[frame].mean() > 0.95 and not lines[t + 2 : b, l_ + 2 : r].any()


def test_a_one_beside_a_grid_line_stays():
    """Squared paper's plumb lines are a comb's teeth too (alike, at one pitch). A 1 written
    right beside one, its columns within 2 of the line's, stays: a tooth's rows are those of its
    thickness (with the 1 taken into the line's tooth, a squared page's 1 read "2", unsure)."""
    m = np.zeros((400, 600), bool)
    for x in range(25, 600, 50):
        bar(m, 0, 400, x, x + 2)
    for y in range(25, 400, 50):
        bar(m, y, y + 2, 0, 600)
    bar(m, 140, 230, 269, 274)  # a 1, 5 px thick (the line: 2), a pixel apart from the line at 275
    lines = pp.printed_lines(m)
    assert lines[:, 275:277].mean() > 0.9 and lines[125:127].mean() > 0.9
    assert not lines[140:230, 269:274].any()


def test_a_one_standing_on_a_ruled_line_stays():
    """A straight 1 touching a ruled line is one structure with it: the line is long, so it goes; the
    1 is not (its plumb part is a digit's height), so it stays."""
    m = np.zeros((400, 800), bool)
    for y in (100, 250):
        bar(m, y, y + 2, 0, 800)
    bar(m, 140, 250, 300, 304)  # a 1 standing on the lower line
    ring(m, 140, 400, 110, 80)
    lines = pp.printed_lines(m)
    assert lines[250:252].mean() > 0.95 and not lines[140:250, 300:304].any()


def form_reads(
    session, images, labels, kind: str, picks: list[list[int]], seed: int
) -> list[tuple[str, str | None]]:
    f = forms()
    out = []
    for k, pick in enumerate(picks):
        img = f.form_page(kind, [images[i] for i in pick], seed + k, "tune")
        out.append(("".join(str(int(labels[i])) for i in pick), read_sure(session, img)))
    return out


@pytest.mark.parametrize("kind", ["box", "comb", "line"])
def test_forms_are_read(mnist, session, kind: str):
    """Four forms of each kind from the tune part's ranges (digits of MNIST test from 300 on): at least
    three read right and sure, none confidently wrong."""
    images, labels = mnist
    n = 1 if kind == "box" else 3
    picks = [list(range(300 + n * k, 300 + n * k + n)) for k in range(4)]
    reads = form_reads(session, images, labels, kind, picks, seed=10)
    assert sum(want == got for want, got in reads) >= 3, reads
    assert all(got in (None, want) for want, got in reads), reads


def test_teeth_slanted_apart_from_the_writing_go(mnist, session):
    """Thin teeth 2 degrees off the thick writing's slant are not straight at the ink's own skew; a
    form is square, so plumb lines are also sought at right angles to the level lines, where they
    are (without that search this page reads "217141", confidently)."""
    images, labels = mnist
    reads = form_reads(session, images, labels, "comb", [[306, 307, 308]], seed=12)
    assert reads == [("274", "274")]


def test_comb_teeth_that_writing_touches_go(mnist, session):
    """A comb is a chain of teeth at one pitch: a tooth that a digit lengthens, or a divider merged
    with a 0, is still one of them, and a digit's stem as long as the dividers (it touches both
    lines) half way between two of them is not (forms.py's tune combs 2, 6, 7 and 24 of seed 0;
    with three alike teeth needed, "959" read "9591", "966" "1966" and "76278" "678", confidently)."""
    images, labels = mnist
    pages = {2: [7, 8, 9], 6: [20, 21, 22], 7: [23, 24, 25, 26, 27], 24: [80, 81, 82, 83, 84]}
    reads = [form_reads(session, images, labels, "comb", [pick], seed)[0] for seed, pick in pages.items()]
    assert sum(want == got for want, got in reads) >= 3, reads
    assert all(got in (None, want) for want, got in reads), reads


def test_ones_and_sevens_in_combs_and_on_lines(mnist, session):
    """A digit's own straight strokes survive the structure around them: numbers of 1s and 7s in a
    comb and on a fill-in line are read (measured: 2 of 4 right and sure, the others marked), none
    confidently wrong."""
    images, labels = mnist
    ones_sevens = [i for i in range(400, 2000) if labels[i] in (1, 7)][:12]
    picks = [ones_sevens[3 * k : 3 * k + 3] for k in range(4)]
    reads = form_reads(session, images, labels, "comb", picks[:2], seed=20)
    reads += form_reads(session, images, labels, "line", picks[2:], seed=20)
    assert sum(want == got for want, got in reads) >= 2, reads
    assert all(got in (None, want) for want, got in reads), reads


@pytest.mark.parametrize("kind", ["blank_comb", "blank_line", "blank_box"])
def test_no_blank_form_is_answered(session, kind: str):
    f = forms()
    answers = [read_sure(session, f.form_page(kind, [], seed, "tune")) for seed in range(6)]
    assert answers == [None] * 6


def test_a_colon_is_no_digit(mnist):
    """ "12:34." reads as four digits: the colon's two dots (DOT of the tallest, as wide as long) are
    punctuation, as the point is; without the rule they would be a fifth digit (see time_of_day)."""
    reading = pp.read_image(time_of_day(mnist[0]))
    assert reading.count == 4
    assert all(not (left < 210 and right > 202) for _, _, left, right in reading.boxes)


def test_a_window_side_is_no_1(mnist):
    """A display window's side beside the digits, slanted past LINE_ANGLE (printed_lines does not
    straighten it), under BAR_THIN as thick as the digits' segments and taller than all of them, is
    structure (_without_bars): three digits, none over the line. Without the rule it was a fourth.
    A 4 and a 0 in two hands, the 0 half as thick and a pixel taller, stay two digits."""
    reading = pp.read_image(window_side())
    assert reading.count == 3 and min(left for _, _, left, _ in reading.boxes) >= 80
    images, labels = mnist
    assert list(labels[3076:3078]) == [4, 0]
    assert pp.read_image(dress.photo(images[3076:3078], dress.LIGHTS[2], 8, seed=38)).count == 2


def test_a_thin_group_is_a_bar_only_when_it_runs_past_the_rest():
    """_without_bars judges a group against the others: thin (under BAR_THIN of their median stroke
    width, here 8.5) and running past the tallest of them by more than that width. A thin 1 at most
    that much taller stays, and so does a tall group as thick as the rest; a lone group is never
    judged."""
    digits = [(0, 100, 20, 60), (5, 95, 70, 110)]

    def judged(groups: list, thin: float) -> list:  # the first group thin, the digits 8 and 9 wide
        return pp._without_bars(groups, dict(zip(groups, [thin, 8.0, 9.0], strict=False)).__getitem__)

    assert judged([(0, 109, 0, 4), *digits], 2.0) == digits
    assert judged([(0, 108, 0, 4), *digits], 2.0) == [(0, 108, 0, 4), *digits]
    assert judged([(0, 140, 0, 4), *digits], 4.5) == [(0, 140, 0, 4), *digits]
    assert judged([(0, 140, 0, 4)], 2.0) == [(0, 140, 0, 4)]


def test_a_light_strip_with_nothing_written_on_it_is_no_page():
    """A dark display's light body down the side of the frame looks like a page on a table
    (page_only takes it), but nothing is written on it: it is no page, and the display's 7 and 1
    are read from the whole image. Before, the display was table and the image was blank."""
    img = display_and_body()
    grey = pp.to_grey(img)
    assert pp.page_only(grey) is not grey
    reading = pp.read_image(img)
    assert reading.count == 2 and all(right <= 300 for _, _, _, right in reading.boxes)


@pytest.mark.parametrize("tinted", [False, True])
def test_a_dark_face_inside_a_lighter_surround_is_the_page(tinted):
    """A display's face darker than what holds it (lit segments on an LED's dark face, dark ones
    on a tinted LCD window in a light body): the light side is no page, the dark side is, and the
    polarity is the face's, so its 7 and 1 are the digits. Before, the face was ink, one group."""
    img = face_on_table(tinted)
    grey = pp.to_grey(img)
    assert pp.page_only(grey) is not grey
    reading = pp.read_image(img)
    assert [box[2:] for box in reading.boxes] == [(211, 250), (361, 370)]
    assert len(reading.digits) == 2 and reading.unsplit == 0


def test_a_shadow_across_a_page_is_no_page():
    """The dark side of a shadow's edge touches the frame's border along 44% of it, over
    PAGE_INSIDE: no page. The 7 and 1 beside it are read from the whole image."""
    img = shadowed_page()
    grey = pp.to_grey(img)
    assert pp.page_only(grey) is grey
    assert [box[2:] for box in pp.read_image(img).boxes] == [(202, 250), (340, 350)]


def test_a_unit_label_and_a_window_side_set_no_digit():
    """A label under a display's digits ("kg") shares a digit's columns, and a window's side left
    of them is taller than they are. The label lies wholly below the groups' median rows, so it
    joins no digit; the side goes as a printed bar before its height is taken for the writing's.
    Before, the label made the 7 a third taller and the 5 lost its left segments as a part."""
    img = labelled_display()
    reading = pp.read_image(img)
    assert reading.boxes == [(62, 138, 136, 146), (50, 150, 170, 226), (50, 138, 272, 316)]
    # the pieces of a scale's "154 kg" (second generator): the window's side in two pieces, a 1 in
    # two segments, the 5, the 4 and the k under it. Before: two groups, the side and all the rest
    side = [[7, 88, 58, 68], [89, 187, 59, 65]]
    one = [[43, 93, 122, 141], [98, 147, 122, 141]]
    boxes = np.array([*side, *one, [31, 160, 157, 220], [44, 150, 237, 301], [220, 235, 259, 269]])

    def width(g: tuple) -> float:  # the side's strokes 3 px wide, the digits' 12
        return 3.0 if g[3] - g[2] < 15 else 12.0

    groups = pp._without_bars(pp._digit_groups(boxes, width), width)
    assert groups == [(43, 147, 122, 141), (31, 160, 157, 220), (44, 150, 237, 301)]


def test_segments_a_digit_closes_in_are_its_own():
    """A 0 and a "2." whose top, middle and bottom segments reach 3 px over the right ones: too
    few columns to join by OVERLAP. The 0's right segments lie under its top and over its bottom,
    the 2's upper right one under its top and over its middle: closed in, they are that digit's.
    Before, the 0's right segments read as a 1 of their own, and the 2's with the point as another
    ("0003" read "01003", "810276" "8102176" on the second generator's displays)."""
    assert pp.read_image(closed_display()).boxes == [(50, 150, 80, 136), (50, 150, 180, 236)]
    # a slanted digit's top reaching over the next digit's foot closes in nothing below it: two
    seven = [[40, 50, 100, 175], [52, 140, 120, 160]]
    one = [[60, 140, 172, 186]]
    assert pp._digit_groups(np.array(seven + one)) == [(40, 140, 100, 175), (60, 140, 172, 186)]


def test_level_bars_joined_down_a_side_are_a_digits_own():
    """A printed 3 and 8: three level bars each at one pitch, joined down a side, as a comb's teeth
    by its spine. A comb is a row of cells, so its teeth are plumb: these bars stay writing. Before,
    the level passes took them for teeth and "38" was read as three 1s (a printed display's "12.8"
    read "11111", confidently)."""
    img = printed_38()
    reading = pp.read_image(img)
    assert reading.boxes == [(40, 158, 80, 130), (40, 158, 170, 220)]
    assert all(d[4:8].max() > 0.5 for d in reading.digits)  # the top bar is in each input


def test_a_part_joins_the_nearer_of_two_digits():
    """The pieces of a display's "1.7" (second generator): the 7's upper-left segment stands 10 px
    right of the 1 and overlaps the 7's bar; it joins the nearer, the 7. Before, it joined the 1,
    read as a 6 ("2317" read "23671")."""
    one = [[85, 118, 248, 262], [48, 81, 257, 272], [115, 124, 258, 268]]  # two segments and the point
    seven = [[49, 82, 282, 297], [43, 53, 296, 328], [88, 121, 309, 323], [51, 84, 318, 333]]
    two, three = [[33, 117, 92, 150]], [[37, 120, 157, 210]]  # (as one piece each)
    groups = pp._digit_groups(np.array(two + three + one + seven))
    assert groups == [(33, 117, 92, 150), (37, 120, 157, 210), (48, 124, 248, 272), (43, 121, 282, 333)]
    assert pp.read_image(one_and_seven()).boxes == [(62, 138, 146, 156), (50, 138, 166, 222)]


def test_a_bar_beside_a_thin_line_is_no_piece_of_it():
    """Three bars 8 px thick at one pitch, and a candidate line 1 px thick on the first one's row
    (the faint edge of a thick segment, as an LED's glow leaves): the bar is no piece of that line,
    so the chain needs a spine, and none joins them. A line as thick as the bar (a grid's line that
    a bright light fades into pieces) needs none. Before, any line on the row did, and the vertical
    segments of a row of seven-segment digits went as a comb's teeth ("9601" read "1")."""
    bars = {r: (50, 8.0, 20) for r in (10, 40, 70)}
    sheared = np.zeros((100, 100), bool)
    for r in bars:
        sheared[r : r + 8, 20:70] = True
    none = np.zeros_like(sheared)
    assert pp._teeth(bars, sheared, none, {10: 1.0}) == set()
    assert pp._teeth(bars, sheared, none, {10: 8.0}) == {10, 40, 70}


def test_dashes_under_the_digits_do_not_set_the_line_of_writing():
    """Three 1s over a dashed line 20 px below them, a dash under each (one group with it) and six
    between: the line of writing is the digit-sized groups' rows, so no 1 is off it. Taken from all
    groups, the nine dashes would set it, and each 1 would leave its group as a label."""
    ones = [[40, 140, x, x + 10] for x in (100, 200, 300)]
    dashes = [[160, 166, x, x + 30] for x in (90, 125, 160, 190, 225, 260, 290, 330, 365)]
    groups = pp._digit_groups(np.array(ones + dashes))
    assert groups == [(40, 166, 90, 120), (40, 166, 190, 220), (40, 166, 290, 320)]


def test_slivers_along_the_border_go_and_a_cut_digit_stays(mnist):
    """What the frame cut through lies along its border in one run (_along_border): the band on the
    left edge and the page's edge at the top go. The 0 the right border cuts through its middle
    crosses the border in a run per stroke: it stays, the third digit."""
    img = framed_cut(mnist[0])
    ink = pp.find_ink(pp.to_grey(img))
    assert ink.kept.sum() == 3 and not ink.boxes[ink.kept][:, 2].min() < 60
    assert pp.read_image(img).count == 3
    band = np.full((160, 400), 230, np.uint8)
    band[20:140, 395:400] = 40  # a short band on the right edge, too short to be a printed line
    band[60:100, 180:185] = 40  # a 1 of the same kind, inside: it stays
    ink = pp.find_ink(pp.to_grey(Image.fromarray(band)))
    assert [tuple(b) for b in ink.boxes[ink.kept].tolist()] == [(60, 100, 180, 185)]
