import pytest

from greenkd_lib.paper import display


def test_every_arm_has_a_name_a_short_name_a_colour_and_a_marker():
    for arm in ("teacher", "scratch", "kd", "kd-tuned", "ours"):
        style = display.arm_style(arm)
        assert style["label"] == display.short_name(arm)
        assert style["color"] and style["marker"]
        assert display.arm_name(arm)
    assert display.arm_names(["teacher", "ours"]) == ["Teacher", "Ours, stochastic tau"]
    assert len({display.arm_style(a)["color"] for a in display.ARMS}) == len(display.ARMS)


def test_an_unknown_arm_names_the_known_ones():
    with pytest.raises(KeyError, match="known: teacher, scratch"):
        display.arm_name("tuned")


def test_students_get_fig1_colours_in_order_and_objectives_their_paper_names():
    assert display.student_colors(["mobilenetv2", "shufflenetv2"]) == {"mobilenetv2": "tab:red",
                                                                       "shufflenetv2": "tab:green"}
    assert [display.objective_name(m) for m in ("kd", "cmc", "dml")] == ["HKD", "CMC", "DML"]


def test_number_is_positional_and_short():
    assert display.number(1.866e-4) == "0.0001866" and display.number(97.91666) == "97.92" and display.number(3.0) == "3"
    assert display.number(1.4e-14) == "0" and display.number(-1e-14) == "0"  # floating-point dust, no "-0"
    assert display.number(float("nan")) == "nan"

