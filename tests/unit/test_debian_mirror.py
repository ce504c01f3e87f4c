""".ci/debian-mirror: the mirror debootstrap uses is the one of the machine's apt sources.

Runs the script against fake apt sources under a temporary $APT_SOURCES_ROOT.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "debian-mirror"

# Debian 12's own /etc/apt/sources.list.d/debian.sources, with placeholder hosts
DEBIAN_12_DEFAULT = """\
Types: deb
# a comment
URIs: http://main.invalid/archive
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.invalid/archive-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""

SECURITY_AND_UPDATES_FIRST = """\
Types: deb
URIs: http://security.invalid/archive-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://updates.invalid/archive
Suites: bookworm-updates
Components: main

Types: deb
URIs: http://main.invalid/archive
Suites: bookworm
Components: main
"""

SKIPPED_STANZAS_THEN_ONE_THAT_COUNTS = """\
Types: deb-src
URIs: http://sources-only.invalid/archive
Suites: bookworm
Components: main

Types: deb
URIs: http://disabled.invalid/archive
Suites: bookworm
Components: main
Enabled: no

types: deb deb-src
uris: http://main.invalid/archive http://second.invalid/archive
suites:
 bookworm
components: main
signed-by:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPL
 -----END PGP PUBLIC KEY BLOCK-----
"""

ONE_LINE = """\
# deb http://commented-out.invalid/archive bookworm main
deb-src http://sources-only.invalid/archive bookworm main
deb http://security.invalid/archive-security bookworm-security main
deb http://updates.invalid/archive bookworm-updates main
deb [ arch=amd64 signed-by=/etc/apt/site.gpg ] http://main.invalid/archive bookworm main # a comment
"""

CASES = {
    "deb822, as Debian 12 ships it": {"sources.list.d/debian.sources": DEBIAN_12_DEFAULT},
    "deb822, the suite's stanza last": {
        "sources.list.d/debian.sources": SECURITY_AND_UPDATES_FIRST,
    },
    "deb822, deb-src and disabled skipped; lower case, folded": {
        "sources.list.d/debian.sources": SKIPPED_STANZAS_THEN_ONE_THAT_COUNTS,
    },
    "one-line sources.list": {"sources.list": ONE_LINE},
    "one-line file in sources.list.d": {"sources.list.d/site.list": ONE_LINE},
    "sources.list before sources.list.d": {
        "sources.list": "deb http://main.invalid/archive bookworm main\n",
        "sources.list.d/another.list": "deb http://other.invalid/archive bookworm main\n",
    },
    "sources.list.d in order of name, both formats": {
        "sources.list.d/a-site.list": "deb http://main.invalid/archive bookworm main\n",
        "sources.list.d/debian.sources": DEBIAN_12_DEFAULT.replace("main.", "other."),
    },
    "files of other names ignored": {
        "sources.list.d/old.list.disabled": "deb http://disabled.invalid/archive bookworm main\n",
        "sources.list.d/debian.sources": DEBIAN_12_DEFAULT,
    },
}


def write_sources(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / "etc/apt" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def debian_mirror(root: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if name != "DEBIAN_MIRROR"}
    return subprocess.run(
        ["bash", str(SCRIPT), "bookworm"],
        env={**clean, "APT_SOURCES_ROOT": str(root), **env},
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


@pytest.mark.parametrize("files", CASES.values(), ids=CASES.keys())
def test_prints_the_uri_apt_takes_the_suite_from(tmp_path: Path, files: dict[str, str]) -> None:
    write_sources(tmp_path, files)
    result = debian_mirror(tmp_path)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "http://main.invalid/archive\n"


def test_debian_mirror_overrides_the_apt_sources(tmp_path: Path) -> None:
    write_sources(tmp_path, {"sources.list.d/debian.sources": DEBIAN_12_DEFAULT})
    result = debian_mirror(tmp_path, DEBIAN_MIRROR="file:///srv/debian")
    assert (result.returncode, result.stdout) == (0, "file:///srv/debian\n")


def test_no_source_for_the_suite_names_the_files_read_and_the_way_out(tmp_path: Path) -> None:
    write_sources(tmp_path, {"sources.list.d/debian.sources": SECURITY_AND_UPDATES_FIRST.replace(
        "Suites: bookworm\n", "Suites: trixie\n")})  # fmt: skip
    result = debian_mirror(tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert "no enabled 'deb' source for suite bookworm" in result.stderr
    assert f"read: {tmp_path}/etc/apt/sources.list.d/debian.sources;" in result.stderr
    assert "DEBIAN_MIRROR" in result.stderr


def test_no_apt_sources_at_all_says_where_it_looked(tmp_path: Path) -> None:
    result = debian_mirror(tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert f"read: none; looked for {tmp_path}/etc/apt/sources.list," in result.stderr
    assert f"{tmp_path}/etc/apt/sources.list.d/*.list and *.sources" in result.stderr
