"""Count what the built docs cut off behind a scrollbar at a screen width (headless Chromium).

For every page of a built site, the tables and code blocks whose content is wider than
their box, with the overflow in pixels and the table's first row. Needs ``chromium`` on
``PATH`` (Debian: ``apt-get install chromium``); exits 1 if anything is cut off.

    mkdocs build -d /tmp/site && python scripts/docs_overflow.py /tmp/site   # 1280 px
"""

import argparse
import pathlib
import re
import subprocess
import sys

PROBE = """<script>window.addEventListener('load', () => {
  const cut = [...document.querySelectorAll('.md-typeset__scrollwrap, .md-typeset pre > code')]
    .filter(e => e.scrollWidth > e.clientWidth + 1)
    .map(e => `${e.tagName === 'CODE' ? 'code' : 'table'} +${e.scrollWidth - e.clientWidth}px `
              + `[${(e.querySelector('tr') || e).textContent.replace(/\\s+/g, ' ').slice(0, 60)}]`);
  document.body.setAttribute('data-cut', cut.length + (cut.length ? ': ' + cut.join('; ') : ''));
});</script></body>"""


def cut_off(page, width):
    """What ``page`` (an ``index.html`` of the site) cuts off at ``width`` pixels."""
    probe = page.with_name("overflow-probe.html")
    probe.write_text(page.read_text().replace("</body>", PROBE, 1))
    try:
        dom = subprocess.run(["chromium", "--headless=new", "--no-sandbox", "--disable-gpu",
                              f"--window-size={width},900", "--virtual-time-budget=3000",
                              "--dump-dom", probe.as_uri()],
                             capture_output=True, text=True, timeout=120).stdout
    finally:
        probe.unlink()
    found = re.search(r'data-cut="([^"]*)"', dom)
    return found.group(1) if found else "? (the page did not load)"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("site", type=pathlib.Path, help="a built mkdocs site directory")
    parser.add_argument("--width", type=int, default=1280, help="screen width in pixels")
    args = parser.parse_args(argv)
    bad = 0
    for page in sorted(args.site.glob("**/index.html")):
        result = cut_off(page, args.width)
        bad += not result.startswith("0")
        print(f"{page.parent.relative_to(args.site) or '.'}: {result}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
