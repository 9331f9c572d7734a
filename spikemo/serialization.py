"""JSON round trips for SpikEmo's dataclasses (model, loss and training configs, extraction reports).

`from_dict` refuses keys the dataclass does not have, so a config file with a typo, or one written by another
version, fails loudly instead of being half-read.
"""

from collections.abc import Mapping
from dataclasses import asdict, fields
from typing import Any, Self


class JsonDataclass:
    """Base class of dataclasses that round-trip through JSON: `to_dict` -> json -> `from_dict`.

    Tuples are written as lists; a subclass whose fields are tuples turns them back in its __post_init__.
    """

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict of JSON types (tuples as lists)."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        """Build the dataclass from a JSON-like dict; ValueError names any key it has no field for."""
        unknown = sorted(set(data) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
        return cls(**data)
