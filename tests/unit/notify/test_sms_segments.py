"""SMS segment counting: GSM-7 160/153, UCS-2 70/67."""

from services.notify.adapters.providers import sms_segments


def test_gsm7_single_and_concatenated():
    assert sms_segments("") == 1
    assert sms_segments("a" * 160) == 1
    assert sms_segments("a" * 161) == 2
    assert sms_segments("a" * 306) == 2
    assert sms_segments("a" * 307) == 3


def test_gsm7_extension_characters_cost_two_septets():
    assert sms_segments("€" * 80) == 1
    assert sms_segments("€" * 81) == 2
    assert sms_segments("a" * 159 + "[") == 2


def test_chinese_is_ucs2():
    assert sms_segments("您" * 70) == 1
    assert sms_segments("您" * 71) == 2
    assert sms_segments("您" * 134) == 2
    assert sms_segments("您" * 135) == 3


def test_one_non_gsm_character_switches_the_whole_message_to_ucs2():
    assert sms_segments("a" * 69 + "您") == 1
    assert sms_segments("a" * 70 + "您") == 2


def test_astral_characters_count_as_two_ucs2_units():
    assert sms_segments("😀" * 35) == 1
    assert sms_segments("😀" * 36) == 2
