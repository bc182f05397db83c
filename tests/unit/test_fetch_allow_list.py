"""What a campus system's allow-list entries mean to the file fetch, and which addresses count
as public (gateway/campus/fetching.py); the fetch itself is tested against real servers in
tests/gateway/test_campus_fetching.py."""

from ipaddress import ip_address

import pytest

from gateway.campus.fetching import AllowList, canonical_entry, parse_entry, public


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("files.example.edu", ("https", "files.example.edu", 443)),
        ("Files.Example.EDU.", ("https", "files.example.edu", 443)),
        ("files.example.edu:8443", ("https", "files.example.edu", 8443)),
        ("http://127.0.0.1:8000", ("http", "127.0.0.1", 8000)),
        ("HTTP://thesis.campus", ("http", "thesis.campus", 80)),
        ("[2001:db8::1]:8443", ("https", "2001:db8::1", 8443)),
        ("[::FFFF:10.0.0.1]", ("https", "::ffff:a00:1", 443)),
        ("bücher.example", ("https", "xn--bcher-kva.example", 443)),
        ("s3://thesis-staging", ("s3", "thesis-staging", 0)),
    ],
)
def test_allow_list_entries(entry, parsed):
    assert parse_entry(entry) == parsed


@pytest.mark.parametrize(
    ("entry", "stored"),
    [
        ("Files.Example.EDU:443", "files.example.edu"),
        ("files.example.edu:8443", "files.example.edu:8443"),
        ("[::1]:8443", "[::1]:8443"),
        ("http://127.0.0.1:80", "http://127.0.0.1"),
        ("HTTP://[::1]:8000", "http://[::1]:8000"),
        (" s3://thesis-staging ", "s3://thesis-staging"),
    ],
)
def test_entries_are_stored_in_one_spelling_that_reads_back_the_same(entry, stored):
    assert canonical_entry(entry) == stored
    assert parse_entry(stored) == parse_entry(entry)


@pytest.mark.parametrize(
    "entry",
    [
        "",
        "https://files.example.edu",
        "files.example.edu/path",
        "user@files.example.edu",
        "files.example.edu:0",
        "files.example.edu:99999",
        "files.example.edu:http",
        "files example.edu",
        "files.exam\nple.edu",
        "files.exam\tple.edu",
        "files.example.edu?x",
        "*.example.edu",
        "s3://UPPER",
        "s3://a",
        "s3://bucket/key",
        "ftp://files.example.edu",
    ],
)
def test_what_is_not_an_allow_list_entry(entry):
    with pytest.raises(ValueError):
        parse_entry(entry)


def test_an_allow_list_skips_what_it_cannot_read_and_knows_the_addresses_it_names():
    entries = ["not an entry", None, 3, "127.0.0.1:8443", "files.example.edu", "s3://st-1"]
    allowed = AllowList.of(entries)
    assert allowed.origins == {("https", "127.0.0.1", 8443), ("https", "files.example.edu", 443)}
    assert allowed.addresses == {(ip_address("127.0.0.1"), 8443)}
    assert allowed.buckets == {"st-1"}


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "255.255.255.255",
        "224.0.0.1",
        "239.255.255.250",
        "192.0.2.1",  # documentation
        "240.0.0.1",  # reserved
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "ff02::1",
        "ff0e::1",  # global-scope multicast
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",  # IPv4-compatible (deprecated)
        "2002:a00:1::",  # 6to4 of 10.0.0.1
        "2002:7f00:1::",  # 6to4 of 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "2001:db8::1",  # documentation
    ],
)
def test_addresses_that_are_not_public(address):
    assert not public(ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"]
)
def test_public_addresses(address):
    assert public(ip_address(address))
