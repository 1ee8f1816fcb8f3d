"""parse_backgrounds on the shapes of answer real LLMs give, clean and messy."""

import pytest

from clipmend.llm.parse import parse_backgrounds


@pytest.mark.parametrize(
    "text, expected",
    [
        ('["Desert", "Rain forests", "Urban Areas"]', ["Desert", "Rain forests", "Urban Areas"]),
        ('```json\n["desert", "caves", "underwater"]\n```', ["desert", "caves", "underwater"]),
        ("```\n[\"desert\", \"caves\"]", ["desert", "caves"]),
        ('{"backgrounds": ["desert", "caves"]}', ["desert", "caves"]),
        (
            '[{"background": "desert", "reason": "too dry"}, {"background": "a cave"}]',
            ["desert", "a cave"],
        ),
        ('["desert", 3, null, "", "caves"]', ["desert", "caves"]),
        ('["Beach: sea lions rest on sand", "Ice rink (frozen)"]', ["Beach", "Ice rink"]),
        ('["Frozen lakes, rivers"]', ["Frozen lakes, rivers"]),
        (
            'Sure! Here is the list: ["snowy mountain", "city street"]\nHope that helps.',
            ["snowy mountain", "city street"],
        ),
    ],
)
def test_json_lists(text, expected):
    assert parse_backgrounds(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ('["desert", "caves", "under', ["desert", "caves"]),
        ('[\n  "desert",\n  "polar ice caps",\n  "volcanic ar', ["desert", "polar ice caps"]),
        ('Here you go: ["a \\"busy\\" street", "subway tunnel', ["a busy street"]),
        ('```json\n["kitchen",\n"library",', ["kitchen", "library"]),
    ],
)
def test_truncated_json_keeps_the_complete_items(text, expected):
    assert parse_backgrounds(text) == expected


def test_numbered_markdown_with_bold_heads_and_explanations():
    text = (
        "Here are some uncommon backgrounds for a sea lion:\n\n"
        "1. **Desert**: Sea lions are marine animals, so a desert would be unusual.\n"
        "2. **Rain forests** - dense, humid and far from the sea.\n"
        "3. Urban areas (for example city streets)\n"
        "4. Caves, where light is scarce.\n"
        "5) Polar ice caps.\n\n"
        "I hope this helps! Let me know if you need more."
    )
    assert parse_backgrounds(text) == [
        "Desert", "Rain forests", "Urban areas", "Caves", "Polar ice caps"
    ]


def test_bullets_of_every_kind_and_nested_items():
    text = (
        "### Uncommon backgrounds\n"
        "- Beach\n"
        "* forest floor\n"
        "• Snowy mountains.\n"
        "+ `Subway tunnel`\n"
        "- Urban areas:\n"
        "    - city streets\n"
        "    - parking lots\n"
    )
    assert parse_backgrounds(text) == [
        "Beach", "forest floor", "Snowy mountains", "Subway tunnel", "Urban areas",
        "city streets", "parking lots",
    ]


def test_lettered_and_parenthesised_markers():
    assert parse_backgrounds("a) Beach\nb) Forest\n(3) Desert") == ["Beach", "Forest", "Desert"]


def test_comma_list_like_the_papers_table():
    text = "Desert, Rain forests, Urban Areas, Polar Ice Caps, Caves, Grasslands, Volcanic Areas"
    assert parse_backgrounds(text) == [
        "Desert", "Rain forests", "Urban Areas", "Polar Ice Caps", "Caves", "Grasslands",
        "Volcanic Areas",
    ]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Desert, caves, and polar ice caps.", ["Desert", "caves", "polar ice caps"]),
        ("Uncommon backgrounds: desert; caves; \"ice rinks\".", ["desert", "caves", "ice rinks"]),
        (
            "Sea lions are marine mammals. They can appear in deserts, caves or ice rinks.",
            ["in deserts", "caves", "ice rinks"],
        ),
        ("[desert, caves, snowfield]", ["desert", "caves", "snowfield"]),
    ],
)
def test_prose_and_semicolon_lists(text, expected):
    assert parse_backgrounds(text) == expected


def test_one_phrase_per_line_without_markers():
    assert parse_backgrounds("Desert\nCaves\n\nUnderwater\n") == ["Desert", "Caves", "Underwater"]


def test_exact_repeats_are_dropped_keeping_the_first_spelling():
    text = "1. Beach\n2. Forest\n3. beach\n4. Beach\n5. Forest.\n6. Desert"
    assert parse_backgrounds(text) == ["Beach", "Forest", "Desert"]


def test_quotes_and_markdown_are_stripped():
    text = "1. \"Beach\"\n2. 'Forest'\n3. “Snowy field”\n4. __Cave__\n5. *Desert*"
    assert parse_backgrounds(text) == ["Beach", "Forest", "Snowy field", "Cave", "Desert"]


def test_long_items_and_sentences_are_dropped():
    text = (
        "1. A sea lion lying on the warm sand of a crowded tourist beach in summer\n"
        "2. Beach\n"
        "3. Here are some more ideas\n"
        "4. Note: these are rare\n"
        "5. ???\n"
    )
    assert parse_backgrounds(text) == ["Beach"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\n ",
        "!!!???",
        "I'm sorry, but I cannot answer that.",
        "Here are some uncommon backgrounds for a sea lion:",
        "1.\n2.\n3.",
        "[]",
        '{"answer": 42}',
        "As an AI language model I do not have opinions about where animals live.",
    ],
)
def test_answers_with_nothing_usable_give_an_empty_list(text):
    assert parse_backgrounds(text) == []


def test_order_is_kept():
    assert parse_backgrounds("- zebra crossing\n- attic\n- mall") == [
        "zebra crossing", "attic", "mall"
    ]


def test_prose_answer_takes_the_most_list_like_sentence():
    text = (
        "The Siberian husky is a breed of dog that originated in Siberia. While they are not "
        "native to the tropics, they have adapted. They are rarely seen in places like deserts, "
        "rain forests or busy airports."
    )
    assert parse_backgrounds(text) == ["deserts", "rain forests", "busy airports"]


def test_unbalanced_quotes_are_removed():
    text = '1. The "Croque de la Chasse" - a French game.\n2. "Ice rink'
    assert parse_backgrounds(text) == ["The Croque de la Chasse", "Ice rink"]


def test_messy_small_model_answer():
    text = (
        "The sea lion is a marine mammal that lives in the ocean.\n"
        "Uncommon backgrounds for a sea lion:\n"
        "1. Sea lion on a rock\n"
        "2. **Beach**\n"
        "3. **Beach**\n"
        "4. A sea lion in a cage\n"
        "5. The sea lion is swimming in the water and playing with the other sea lions\n"
        "6."
    )
    assert parse_backgrounds(text) == ["Sea lion on a rock", "Beach", "A sea lion in a cage"]
