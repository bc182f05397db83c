"""The search and browse pages and API over a capped result count, with inventory stubbed:
the wording of "more than", the pager, and pages past the cap (clamped on the pages,
refused with the error shape by the API)."""

import contextlib
from types import SimpleNamespace

import pytest

from kernel.contracts.exceptions import NotFound

HIT = {
    "id": "i1",
    "identifier": "ark:/99999/x-1",
    "title": "Mosses of the fells",
    "creators": ["Sam Student"],
    "year": 2024,
    "collection": "theses",
    "access": "open",
    "embargo_until": None,
    "description": "",
}
THESES = {
    "id": "theses",
    "name": "Theses",
    "parent_id": None,
    "description": "",
    "set_spec": "theses",
    "item_count": 1000,
    "item_count_exact": False,
}


class Inventory:
    """Answers as inventory would for a repository with more than 1,000 matches."""

    def __init__(self):
        self.asked = []
        for name in ("search_items", "list_collections", "get_collection"):
            setattr(self, name, Method(getattr(self, name)))

    def search_items(self, query, year, collection, page, per_page):
        if collection not in (None, "theses"):
            raise NotFound(f"No collection {collection}.")
        self.asked.append({"query": query, "page": page, "per_page": per_page})
        return {
            "items": [HIT],
            "page": page,
            "per_page": per_page,
            "total": 1000,
            "total_exact": False,
            "years": [{"year": 2024, "count": None}, {"year": 2023, "count": None}],
        }

    def list_collections(self):
        return [THESES]

    def get_collection(self, collection_id):
        return {**THESES, "ancestors": [], "children": [{**THESES, "id": "phd", "name": "PhD"}]}


class Method:
    """An RPC method as the pool lends it: called, or asked at once (`call_async`) and
    answered, or raising, by `result()`."""

    def __init__(self, function):
        self.function = function

    def __call__(self, **arguments):
        return self.function(**arguments)

    def call_async(self, **arguments):
        return SimpleNamespace(result=lambda: self.function(**arguments))


@pytest.fixture
def site(gateway_app):
    inventory = Inventory()

    class Pool:
        @contextlib.contextmanager
        def client(self):
            yield SimpleNamespace(inventory=inventory)

    gateway_app.extensions["lodge.rpc"] = Pool()
    return gateway_app.test_client(), inventory


def test_a_capped_search_says_more_than_and_pages_on(site):
    client, _ = site
    html = client.get("/search?q=moss&page=3").get_data(as_text=True)
    assert "More than 1,000 results" in html
    assert "Page 3 of more than 50" in html
    assert 'rel="next"' in html and 'rel="prev"' in html
    assert ">2024</option>" in html  # a year without a count when the matches are not counted


def test_a_page_past_the_cap_is_the_last_one_offered(site):
    client, inventory = site
    answer = client.get("/search?q=moss&page=999999")
    assert answer.status_code == 200 and inventory.asked[-1]["page"] == 50
    html = client.get("/collections/theses?page=60").get_data(as_text=True)
    assert inventory.asked[-1]["page"] == 50
    assert "More than 1,000 items" in html  # the collection's items and its child's count
    assert 'rel="next"' not in html


def test_collections_say_more_than_for_a_capped_count(site):
    client, _ = site
    assert "More than 1,000 items" in client.get("/collections").get_data(as_text=True)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/search?q=moss&page=41",  # 25 a page: starts at 1,000
        "/api/v1/search?q=moss&page=11&per_page=100",
        "/api/v1/collections/theses/items?page=1001&per_page=1",
        "/api/v1/search?q=moss%00",
        "/api/v1/search?page=-1",
        "/api/v1/search?page=x",
    ],
)
def test_the_api_refuses_a_page_past_the_cap_or_a_bad_query_with_the_error_shape(site, path):
    client, inventory = site
    answer = client.get(path)
    assert answer.status_code == 422
    assert set(answer.get_json()["error"]) == {"code", "message", "fields"}
    assert inventory.asked == []


def test_the_api_serves_the_last_page_within_the_cap(site):
    client, inventory = site
    answer = client.get("/api/v1/search?q=moss&page=40")
    assert answer.status_code == 200 and answer.get_json()["total_exact"] is False
    assert inventory.asked == [{"query": "moss", "page": 40, "per_page": 25}]


@pytest.mark.parametrize("collection", ["gone", "x" * 5000, "theses%0A"])
def test_a_search_in_a_collection_that_is_not_there_searches_everything(site, collection):
    client, inventory = site
    response = client.get(f"/search?q=moss&collection={collection}")
    assert response.status_code == 200
    assert "Mosses of the fells" in response.get_data(as_text=True)
    assert inventory.asked == [{"query": "moss", "page": 1, "per_page": 20}]
