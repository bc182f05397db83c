"""Reading /metrics as Prometheus does: an HTTP GET with the Bearer token, the text format
parsed by prometheus_client's own parser."""

from __future__ import annotations

import requests
from prometheus_client.parser import text_string_to_metric_families


class Samples:
    """One scrape: every sample by its name (`..._total`, `..._bucket`, ...) and labels."""

    def __init__(self, text: str):
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self.samples = [sample for family in self.families.values() for sample in family.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples called `name` whose labels include `labels` (0 if none)."""
        return sum(
            sample.value
            for sample in self.samples
            if sample.name == name
            and all(sample.labels.get(key) == wanted for key, wanted in labels.items())
        )

    def has(self, name: str, **labels: str) -> bool:
        return any(
            sample.name == name
            and all(sample.labels.get(key) == wanted for key, wanted in labels.items())
            for sample in self.samples
        )


def scrape(url: str, token: str) -> Samples:
    response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, f"{url} answered {response.status_code}: {response.text}"
    assert response.headers["Content-Type"].startswith("text/plain; version="), response.headers
    return Samples(response.text)
