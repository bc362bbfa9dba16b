"""Replaces one generated section of benches/README.md (shared by load.sh and memory.sh)."""
import sys


def write_section(readme: str, name: str, title: str, body: str) -> None:
    """Puts `body` between the `<!-- NAME:begin -->` and `<!-- NAME:end -->` markers, or appends
    a `## TITLE` section with them when the README has none yet."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = open(readme).read()
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{body}\n{end}{tail}"
    else:
        text = text.rstrip("\n") + f"\n\n## {title}\n\n{begin}\n{body}\n{end}\n"
    open(readme, "w").write(text)
    print(f"\n(written to {readme})", file=sys.stderr)
