"""The HTML page: self-contained, built by its own script in a real headless Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from purekong.inspect._adapter import recording_from_capture
from purekong.inspect._html import render_html
from purekong.inspect._scenarios import run_scenario

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")) if p and shutil.which(p)), None)


@pytest.fixture(scope="module")
def page():
    return render_html(recording_from_capture(run_scenario("mtls", 0)))


def _embedded(page: str) -> dict:
    blob = re.search(r'<script type="application/json" id="recording">(.*?)</script>', page, re.S).group(1)
    return json.loads(blob)


def test_self_contained(page):
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "http://" not in page.split('<script type="application/json"')[0]
    assert "default-src 'none'" in page


def test_view_model_has_every_message_with_fields_and_bytes(page):
    data = _embedded(page)
    titles = [m["title"] for m in data["messages"]]
    assert titles[:3] == ["ClientHello", "ServerHello", "EncryptedExtensions"] and "CertificateRequest" in titles
    for m in data["messages"]:
        assert len(m["hex"]) == 2 * m["size"] and m["fields"]
    assert data["phase"]["request"] and data["phase"]["cas"][0].startswith("CN=purekong inspect CA")


def test_script_cannot_be_closed_by_recorded_bytes():
    # A recording whose data contains "</script>" must not end the JSON block early.
    from purekong.inspect import CLIENT_TO_SERVER, Recording

    recording = Recording.from_transcript([(CLIENT_TO_SERVER, bytes.fromhex("16030100") + b"\x10</script><b>x")])
    page = render_html(recording, title="</script><script>alert(1)</script>")
    assert page.count("</script>") == 2 and page.count("<script") == 2
    assert "<title>purekong inspect: &lt;/script&gt;" in page
    assert _embedded(page)["title"] == "</script><script>alert(1)</script>"


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_chromium_builds_the_ladder_and_the_panel(page, tmp_path):
    path = tmp_path / "page.html"
    path.write_text(page)
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    assert 'data-ready="1"' in dom, "the page's script did not finish"
    data = _embedded(page)
    assert dom.count('class="rec"') == len(data["records"])
    assert dom.count('class="row c2s hs') + dom.count('class="row s2c hs') == len(data["messages"])
    assert '<h2 id="ptitle">ClientHello</h2>' in dom  # the first message is selected
    assert dom.count('class="b"') == data["messages"][0]["size"]  # its bytes, one span each
    assert "CA DN: CN=purekong inspect CA" in dom and "alert close_notify" in dom


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_chromium_opens_a_record_by_deep_link(tmp_path):
    page = render_html(recording_from_capture(run_scenario("tls13", 0)))
    path = tmp_path / "page.html"
    path.write_text(page)
    data = _embedded(page)
    index = next(r["i"] for r in data["records"] if r.get("dec") and "application_data" in r["dec"]["inner"])
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", path.as_uri() + f"#r={index}"],
        capture_output=True, text=True, timeout=120,
    ).stdout
    assert f'<h2 id="ptitle">Record #{index}</h2>' in dom
    assert "CLIENT_TRAFFIC_SECRET_0" in dom and "GET / HTTP/1.1" in dom


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_chromium_folds_a_bulk_transfer(tmp_path):
    from purekong.inspect._scenarios import transfer_capture

    recording = recording_from_capture(transfer_capture(300_000))
    path = tmp_path / "bulk.html"
    path.write_text(render_html(recording))
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120,
    ).stdout
    data_records = [r for r in recording.records if r.inner_content_type == 23]
    assert dom.count('class="fold"') == 1 and f"{len(data_records) - 2} more records of application data" in dom
    assert dom.count('class="rec"') == len(recording.records) - (len(data_records) - 2)
