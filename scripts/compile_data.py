"""Compile the data files edited as YAML into the JSON commands read.

Usage::

    python scripts/compile_data.py

Run it after editing ``akarom/locale/messages.yaml`` (the sentences) or
``akarom/advice/rules/*.yaml`` (the shipped advice rules); ``tests/test_texts.py`` and
``tests/advice/test_rules.py`` fail until each pair agrees. The YAML stays the one to
edit (comments, sections); the JSON only spares every command a YAML parser at
start-up (``akarom.texts``, ``akarom.advice.engine``).
"""

from __future__ import annotations

from importlib import resources

from akarom.advice.engine import COMPILED_RULES, compiled_rules
from akarom.texts import compiled


def main() -> None:
    folder = resources.files("akarom").joinpath("locale")
    with resources.as_file(folder.joinpath("messages.json")) as path:
        path.write_text(compiled(folder.joinpath("messages.yaml")), encoding="utf-8")
        print(f"wrote {path}")
    COMPILED_RULES.write_text(compiled_rules(), encoding="utf-8")
    print(f"wrote {COMPILED_RULES}")


if __name__ == "__main__":
    main()
