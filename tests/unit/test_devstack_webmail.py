"""The generated Roundcube folder: stable des_key, private plugin config, complete nginx site."""

from __future__ import annotations

import stat

import pytest

from corpmail.devstack import webmail

pytestmark = pytest.mark.skipif(not webmail.RC_SHARE.is_dir(),
                                reason="Roundcube is not installed (scripts/install)")


def make(tmp_path):
    return webmail.Webmail(tmp_path / "wm", listen=("127.0.0.1", 18080),
                           app=("127.0.0.1", 18081), imap_host="127.0.0.1:10143").generate()


def test_generate_twice_keeps_the_des_key_and_the_database(tmp_path):
    first = make(tmp_path)
    key = first.des_key()
    assert len(key) == 24 and stat.S_IMODE((first.base / "des_key").stat().st_mode) == 0o600
    (first.base / "roundcube.db").write_bytes(b"kept")
    second = make(tmp_path)
    assert second.des_key() == key
    assert (second.base / "roundcube.db").read_bytes() == b"kept"
    config = (second.rc / "config" / "config.inc.php").read_text()
    assert f"'des_key'] = '{key}'" in config
    assert "roundcube/config.inc.php" in config


def test_plugin_config_is_private_and_php_reads_it(tmp_path):
    stack = make(tmp_path)
    stack.write_plugin_config(app_url="http://127.0.0.1:18081", secret="s3cr'et",
                              allowed_hosts=["127.0.0.1", "mail.example.test"])
    path = stack.plugin_config_path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert webmail.plugin_settings(path) == {
        "corpmail_app_url": "http://127.0.0.1:18081", "corpmail_secret": "s3cr'et",
        "corpmail_allowed_hosts": ["127.0.0.1", "mail.example.test"]}


def test_the_site_has_every_placeholder_filled(tmp_path):
    site = make(tmp_path).render_site()
    assert "${CORPMAIL_" not in site
    assert "listen 127.0.0.1:18080;" in site and "proxy_pass http://127.0.0.1:18081;" in site
    assert "location ^~ /internal/" in site


def test_the_tree_uses_our_plugin_and_debians_code(tmp_path):
    stack = make(tmp_path)
    plugin = stack.rc / "plugins" / webmail.PLUGIN
    assert plugin.resolve() == (webmail.REPO / "roundcube" / "plugins" / webmail.PLUGIN)
    assert (stack.rc / "program").resolve() == webmail.RC_SHARE / "program"
    assert (stack.base / "www" / "webmail" / "index.php").is_file()
