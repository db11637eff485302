"""Compile ``akarom/locale/messages.yaml`` into the ``messages.json`` commands read.

Usage::

    python scripts/compile_messages.py

Run it after editing the YAML catalogue; ``tests/test_texts.py`` fails until the two
agree. The YAML stays the one to edit (comments, sections); the JSON only spares every
command a YAML parser at start-up (``akarom.texts``).
"""

from __future__ import annotations

from importlib import resources

from akarom.texts import compiled


def main() -> None:
    folder = resources.files("akarom").joinpath("locale")
    target = folder.joinpath("messages.json")
    with resources.as_file(target) as path:
        path.write_text(compiled(folder.joinpath("messages.yaml")), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
