"""URLs as document ids: what counts as a URL, and one canonical form per story.

The same story reached through two feeds, or with a newsletter's ``utm_*`` tags, must be one
document. Its id is the page's ``<link rel="canonical">`` when it names an http(s) URL, else the
URL after redirects, without tracking parameters and fragment.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

# Query parameters that say who sent the reader, never which page it is.
TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "_hs")
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid", "mkt_tok",
    "ocid", "cmpid", "_ga", "_gl", "ref_src", "ref_url", "smid", "cmp", "sr_share", "at_medium", "at_campaign",
})
_CANONICAL = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_REL = re.compile(r"""\brel\s*=\s*["']?([^"'>]*)""", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def is_url(text: str) -> bool:
    """Whether a command-line input is a web address rather than a path."""
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text))


def without_tracking(url: str) -> str:
    """The URL without tracking parameters and fragment; host lowercased, the rest as given."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if not k.lower().startswith(TRACKING_PREFIXES) and k.lower() not in TRACKING_PARAMS]
    netloc = parts.netloc.lower()
    path = parts.path or "/"
    return urlunsplit((parts.scheme.lower(), netloc, path, urlencode(query, doseq=True), ""))


def canonical_url(html: str, final_url: str) -> str:
    """The page's declared canonical URL (http or https), else ``final_url``; tracking stripped."""
    for tag in _CANONICAL.findall(html[:200_000]):
        rel = _REL.search(tag)
        if not rel or "canonical" not in rel.group(1).lower().split():
            continue
        href = _HREF.search(tag)
        if href:
            target = urljoin(final_url, next(g for g in href.groups() if g is not None).strip())
            if urlsplit(target).scheme in ("http", "https") and urlsplit(target).netloc:
                return without_tracking(target)
    return without_tracking(final_url)
