"""The staff profile editor's page, where it needs no request."""

from gateway.web.staff.profiles import collection_options

COLLECTIONS = [{"id": "theses", "name": "Theses"}, {"id": "open-works", "name": "Open works"}]


def test_the_collections_are_offered_by_name():
    assert collection_options(COLLECTIONS, "theses") == [
        ("theses", "Theses"),
        ("open-works", "Open works"),
    ]
    assert collection_options([], "") == []


def test_a_profiles_collection_stays_offered_when_it_is_no_longer_listed():
    assert collection_options(COLLECTIONS, "retired")[-1] == ("retired", "retired")
