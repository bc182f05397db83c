"""The controlled resource types a profile's items are: COAR resource types, each with the
DataCite resourceTypeGeneral, Schema.org type and DCMI type that say the same, so that
oai_dc, DataCite and the landing page's JSON-LD never disagree about what an item is.

A profile names its type by key; inventory keeps it on the item and every crosswalk reads
it from there, never from the profile's name.
"""

from __future__ import annotations

from dataclasses import dataclass

COAR = "http://purl.org/coar/resource_type/"
# DataCite resourceTypeGeneral → OpenAIRE's; text of any kind is literature
_OPENAIRE_GENERAL = {
    "JournalArticle": "literature",
    "Preprint": "literature",
    "ConferencePaper": "literature",
    "Book": "literature",
    "BookChapter": "literature",
    "Report": "literature",
    "Dissertation": "literature",
    "Text": "literature",
    "Dataset": "dataset",
    "Software": "software",
}


@dataclass(frozen=True)
class ResourceType:
    key: str
    label: str  # COAR's preferred label
    coar: str  # the COAR concept's id, below COAR
    datacite: str  # DataCite kernel 4.4 resourceTypeGeneral
    schema_org: str  # the Schema.org type of the JSON-LD
    dcmi: str  # the DCMI Type Vocabulary term

    @property
    def uri(self) -> str:
        return COAR + self.coar

    @property
    def openaire(self) -> str:
        """OpenAIRE's resourceTypeGeneral: literature, dataset, software or other."""
        return _OPENAIRE_GENERAL.get(self.datacite, "other research product")

    @property
    def heading(self) -> str:
        """The label as a heading or a menu shows it: `Journal article`."""
        return self.label[0].upper() + self.label[1:]


RESOURCE_TYPES: dict[str, ResourceType] = {
    rt.key: rt
    for rt in (
        ResourceType(
            "journal-article",
            "journal article",
            "c_6501",
            "JournalArticle",
            "ScholarlyArticle",
            "Text",
        ),
        ResourceType("preprint", "preprint", "c_816b", "Preprint", "ScholarlyArticle", "Text"),
        ResourceType(
            "conference-paper",
            "conference paper",
            "c_5794",
            "ConferencePaper",
            "ScholarlyArticle",
            "Text",
        ),
        ResourceType("book", "book", "c_2f33", "Book", "Book", "Text"),
        ResourceType("book-part", "book part", "c_3248", "BookChapter", "Chapter", "Text"),
        ResourceType("report", "report", "c_93fc", "Report", "Report", "Text"),
        ResourceType("thesis", "thesis", "c_46ec", "Dissertation", "Thesis", "Text"),
        ResourceType(
            "bachelor-thesis", "bachelor thesis", "c_7a1f", "Dissertation", "Thesis", "Text"
        ),
        ResourceType("master-thesis", "master thesis", "c_bdcc", "Dissertation", "Thesis", "Text"),
        ResourceType(
            "doctoral-thesis", "doctoral thesis", "c_db06", "Dissertation", "Thesis", "Text"
        ),
        ResourceType("dataset", "dataset", "c_ddb1", "Dataset", "Dataset", "Dataset"),
        ResourceType(
            "software", "software", "c_5ce6", "Software", "SoftwareSourceCode", "Software"
        ),
        ResourceType("image", "image", "c_c513", "Image", "ImageObject", "Image"),
        ResourceType("video", "video", "c_12ce", "Audiovisual", "VideoObject", "MovingImage"),
        ResourceType("sound", "sound", "c_18cc", "Sound", "AudioObject", "Sound"),
        ResourceType("text", "text", "c_18cf", "Text", "CreativeWork", "Text"),
    )
}
DEFAULT = "text"

# words in a profile's name (or an old item's dc:type) → the type they suggest, first match
# wins; for profiles and items from before profiles named their type
_SUGGESTED_BY = (
    ("doctor", "doctoral-thesis"),
    ("phd", "doctoral-thesis"),
    ("master", "master-thesis"),
    ("bachelor", "bachelor-thesis"),
    ("thesis", "thesis"),
    ("theses", "thesis"),
    ("dissertation", "thesis"),
    ("preprint", "preprint"),
    ("conference", "conference-paper"),
    ("article", "journal-article"),
    ("paper", "journal-article"),
    ("chapter", "book-part"),
    ("book", "book"),
    ("report", "report"),
    ("dataset", "dataset"),
    ("data", "dataset"),
    ("software", "software"),
    ("code", "software"),
    ("video", "video"),
    ("film", "video"),
    ("podcast", "sound"),
    ("audio", "sound"),
    ("sound", "sound"),
    ("image", "image"),
    ("photo", "image"),
)


def get(key: str | None) -> ResourceType:
    return RESOURCE_TYPES.get(key or DEFAULT, RESOURCE_TYPES[DEFAULT])


def suggested(words: list[str]) -> str:
    """The key of the type that words such as a profile's name suggest."""
    text = " ".join(words).casefold()
    return next((key for word, key in _SUGGESTED_BY if word in text), DEFAULT)
