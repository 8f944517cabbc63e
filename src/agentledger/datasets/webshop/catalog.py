"""The WebShop product catalog, read from the official files and cleaned as WebShop's ``load_products`` does.

Inputs are WebShop's own formats: the catalog ``items_shuffle_*.json`` (a JSON list of scraped
Amazon products) and the attributes ``items_ins_v2_*.json`` (a JSON object keyed by ASIN with
``attributes`` and, for some products, a synthetic ``instruction`` with its
``instruction_attributes``). The optional ``items_human_ins.json`` (ASIN -> list of human
instructions) feeds human goals.

Cleaning follows ``web_agent_site/engine/engine.py``:

* records whose ASIN is ``"nan"`` or longer than 10 characters, and repeated ASINs, are skipped;
  ``num_products`` keeps the first N records (the file is already shuffled);
* ``pricing`` ``"$17.99$23.99"`` becomes the list ``[17.99, 23.99]`` (at most two values) shown as
  ``"$17.99 to $23.99"``; an empty price becomes ``[100.0]`` shown as ``"$100.0"``;
* ``customization_options`` become ``options``: lower-cased names mapped to values that are
  stripped, lower-cased and have ``/`` replaced by ``" | "``; a name whose list is null is dropped;
* ``Attributes`` come from the attributes file (``["DUMMY_ATTR"]`` when missing), the query is
  lower-cased and stripped, and ratings are ``"N.A."`` (the 1000-product release has no reviews file).

The price a purchase is charged (``prices``) is the single price, or for a range a uniform draw
between its ends, as WebShop's ``generate_product_prices``; WebShop draws from the unseeded global
random generator, here the draws are seeded so every run charges the same prices.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from agentledger.errors import DataError

__all__ = ["DEFAULT_PRICE", "Product", "FileInfo", "Catalog", "load_catalog", "parse_pricing", "parse_options",
           "file_info", "charged_prices"]

DEFAULT_PRICE = 100.0
_NOT_DIGIT = re.compile(r"[^\d.]")


@dataclass(frozen=True, slots=True)
class Product:
    """One cleaned product: the fields the shop pages, the search index and the reward use."""

    asin: str
    name: str  # WebShop's ``name`` and ``Title``
    category: str
    query: str  # the Amazon query the product was scraped from, lower-cased
    product_category: str  # "Beauty & Personal Care › Skin Care › ..."
    description: str
    bullet_points: tuple[str, ...]  # ``small_description``: the Features page
    pricing: tuple[float, ...]  # one price or a (low, high) range
    price_tag: str  # "$10.99" or "$17.99 to $23.99"
    options: Mapping[str, tuple[str, ...]]  # option name -> values, in catalog order
    attributes: tuple[str, ...]
    main_image: str = ""
    rating: str = "N.A."
    instruction_text: str | None = None  # synthetic goal text from the attributes file
    instruction_attributes: tuple[str, ...] = ()
    human_instructions: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A data file as run metadata records it."""

    name: str
    sha256: str
    size_bytes: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "sha256": self.sha256, "size_bytes": self.size_bytes}


@dataclass(frozen=True)
class Catalog:
    """Products in catalog order, by ASIN, and the price each one is charged."""

    products: tuple[Product, ...]
    prices: Mapping[str, float]
    catalog_file: FileInfo
    attributes_file: FileInfo
    human_file: FileInfo | None = None
    records_read: int = 0
    skipped_records: int = 0
    by_asin: Mapping[str, Product] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_asin", {p.asin: p for p in self.products})

    def product(self, asin: str) -> Product:
        """The product with this ASIN (any case); a DataError if the catalog has none."""
        found = self.by_asin.get(asin.upper())
        if found is None:
            raise DataError(f"no product with ASIN {asin!r} in {self.catalog_file.name}; "
                            "use an ASIN shown on a results page")
        return found


def file_info(path: Path, data: bytes | None = None) -> FileInfo:
    """Name, sha256 and size of a data file (``data``: its bytes, if already read)."""
    data = path.read_bytes() if data is None else data
    return FileInfo(path.name, hashlib.sha256(data).hexdigest(), len(data))


def _read_json(path: Path, what: str) -> tuple[Any, FileInfo]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"WebShop {what} {path} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"WebShop {what} {path} is a folder, not a JSON file") from None
    try:
        return json.loads(data), file_info(path, data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataError(f"WebShop {what} {path} is not valid JSON ({err}); re-download it") from None


def parse_pricing(pricing: Any, asin: str) -> tuple[tuple[float, ...], str]:
    """``"$17.99$23.99"`` -> ``((17.99, 23.99), "$17.99 to $23.99")``; empty -> ``((100.0,), "$100.0")``."""
    if not pricing:
        return (DEFAULT_PRICE,), f"${DEFAULT_PRICE}"
    if not isinstance(pricing, str):
        raise DataError(f"product {asin}: pricing must be a string like '$19.99', not {pricing!r}")
    try:
        values = [float(Decimal(_NOT_DIGIT.sub("", part))) for part in pricing.split("$")[1:]]
    except InvalidOperation:
        raise DataError(f"product {asin}: cannot read a price in pricing {pricing!r}") from None
    if not values:
        raise DataError(f"product {asin}: pricing {pricing!r} has no '$' price")
    if len(values) == 1:
        return (values[0],), f"${values[0]}"
    return (values[0], values[1]), f"${values[0]} to ${values[1]}"


def parse_options(raw: Any, asin: str) -> dict[str, tuple[str, ...]]:
    """``customization_options`` -> {lower-cased name: cleaned values}, as WebShop's ``load_products``."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise DataError(f"product {asin}: customization_options must be an object, not {type(raw).__name__}")
    options: dict[str, tuple[str, ...]] = {}
    for name, contents in raw.items():
        if contents is None:
            continue
        try:
            values = tuple(c["value"].strip().replace("/", " | ").lower() for c in contents)
        except (TypeError, KeyError, AttributeError):
            raise DataError(f"product {asin}: option {name!r} must be a list of {{'value': str}} objects") from None
        options[name.lower()] = values
    return options


def _product(raw: Any, index: int, attrs: Mapping[str, Any], human: Mapping[str, Any] | None) -> Product:
    if not isinstance(raw, dict):
        raise DataError(f"catalog record {index} is {type(raw).__name__}, not a product object")
    missing = [k for k in ("asin", "name", "category", "query", "product_category") if k not in raw]
    if missing:
        raise DataError(f"catalog record {index} lacks {', '.join(missing)}; is this an items_shuffle file?")
    asin = str(raw["asin"])
    pricing, price_tag = parse_pricing(raw.get("pricing"), asin)
    small = raw.get("small_description", "")
    bullets = tuple(str(b) for b in small) if isinstance(small, list) else (str(small),)
    entry = attrs.get(asin) or {}
    images = raw.get("images") or [""]
    return Product(
        asin=asin,
        name=str(raw["name"]),
        category=str(raw["category"]),
        query=str(raw["query"]).lower().strip(),
        product_category=str(raw["product_category"]),
        description=str(raw.get("full_description") or ""),
        bullet_points=bullets,
        pricing=pricing,
        price_tag=price_tag,
        options=parse_options(raw.get("customization_options"), asin),
        attributes=tuple(entry.get("attributes") or ("DUMMY_ATTR",)),
        main_image=str(images[0] or ""),
        instruction_text=entry.get("instruction"),
        instruction_attributes=tuple(entry.get("instruction_attributes") or ()),
        human_instructions=tuple((human or {}).get(asin) or ()),
    )


def charged_prices(products: tuple[Product, ...], seed: int) -> dict[str, float]:
    """WebShop's ``generate_product_prices`` with a seeded generator."""
    rng = random.Random(seed)
    prices: dict[str, float] = {}
    for p in products:
        prices[p.asin] = p.pricing[0] if len(p.pricing) == 1 else rng.uniform(*p.pricing[:2])
    return prices


def load_catalog(
    catalog_path: Path,
    attributes_path: Path,
    *,
    human_path: Path | None = None,
    num_products: int | None = None,
    seed: int = 233,
) -> Catalog:
    """Read and clean the catalog; see the module docstring for the rules."""
    if num_products is not None and (isinstance(num_products, bool) or num_products < 1):
        raise DataError(f"num_products must be a positive number or None (all), not {num_products!r}")
    raw, catalog_file = _read_json(catalog_path, "catalog")
    if not isinstance(raw, list):
        raise DataError(f"WebShop catalog {catalog_path} is a JSON {type(raw).__name__}, not a list of products; "
                        "give an items_shuffle_*.json file")
    attrs, attributes_file = _read_json(attributes_path, "attributes file")
    if not isinstance(attrs, dict):
        raise DataError(f"WebShop attributes file {attributes_path} is not a JSON object keyed by ASIN; "
                        "give an items_ins_v2_*.json file")
    human, human_file = _read_json(human_path, "human instructions file") if human_path else (None, None)
    if human is not None and not isinstance(human, dict):
        raise DataError(f"{human_path} is not a JSON object keyed by ASIN; give items_human_ins.json")
    records = raw if num_products is None else raw[:num_products]
    products: list[Product] = []
    seen: set[str] = set()
    for index, record in enumerate(records):
        asin = record.get("asin") if isinstance(record, dict) else None
        if isinstance(asin, str) and (asin == "nan" or len(asin) > 10 or asin in seen):
            continue
        product = _product(record, index, attrs, human)
        seen.add(product.asin)
        products.append(product)
    if not products:
        raise DataError(f"WebShop catalog {catalog_path} holds no usable product")
    kept = tuple(products)
    return Catalog(
        products=kept,
        prices=charged_prices(kept, seed),
        catalog_file=catalog_file,
        attributes_file=attributes_file,
        human_file=human_file,
        records_read=len(records),
        skipped_records=len(records) - len(kept),
    )
