"""Configuration: file < environment, and every bad value named by its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dialer.settings import ConfigError, load, load_database, mask_url

GOOD = """
[database]
url = "postgresql+asyncpg://dialer:s3cret@127.0.0.1:5432/dialer"
[pbx]
secret = "ami"
port = 5038
[dialer]
lease_batch = 20
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "dialer.toml"
    p.write_text(text)
    return p


def test_file_values_and_defaults(tmp_path: Path) -> None:
    s = load(write(tmp_path, GOOD), env={})
    assert s.pbx.secret == "ami"
    assert s.dialer.lease_batch == 20
    assert s.pbx.host == "127.0.0.1"  # default
    assert s.log.level == "INFO"


def test_environment_overrides_file(tmp_path: Path) -> None:
    s = load(
        write(tmp_path, GOOD),
        env={"DIALER_PBX_PORT": "6038", "DIALER_DIALER_AUTOLOGIN_AGENTS": "no"},
    )
    assert s.pbx.port == 6038
    assert s.dialer.autologin_agents is False


@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        ('[pbx]\nsecret="x"\nport="abc"', {}, "pbx.port: expected an integer"),
        ('[pbx]\nsecret="x"\nport=70000', {}, "pbx.port: expected an integer from 1 to 65535"),
        ('[pbx]\nsecret="x"', {"DIALER_PBX_PORT": "five"}, "pbx.port: expected an integer"),
        ('[pbx]\nsecret="x"\nkind="sip"', {}, "pbx.kind"),
        ("[pbx]\n", {}, "pbx.secret: must be set"),
        ('[pbx]\nsecret="x"\nportt=1', {}, "pbx.portt: unknown key"),
        ('[pbxx]\nsecret="x"', {}, "pbxx: unknown section"),
        ('[pbx]\nsecret="x"\n[dialer]\ntick_s=0', {}, "dialer.tick_s: must be greater than 0"),
        ('[pbx]\nsecret="x"\n[dialer]\nautologin_agents="maybe"', {}, "dialer.autologin_agents"),
        (
            '[pbx]\nsecret="x"\n[dialer]\ntake_back_over=0.5',
            {},
            "dialer.take_back_over: expected 0",
        ),
        ('[pbx]\nsecret="x"\n[database]\nurl="mysql://x"', {}, "database.url"),
        ('[pbx]\nsecret="x"\n[log]\nlevel="LOUD"', {}, "log.level"),
        ('[pbx\nsecret="x"', {}, "dialer.toml"),
    ],
)
def test_bad_values_name_the_key(
    tmp_path: Path, text: str, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load(write(tmp_path, text), env=env)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.toml", env={})


def test_secrets_do_not_appear_in_repr(tmp_path: Path) -> None:
    s = load(write(tmp_path, GOOD), env={})
    text = repr(s)
    assert "s3cret" not in text
    assert "'ami'" not in text
    assert "***" in text


def test_mask_url() -> None:
    assert mask_url("postgresql+asyncpg://u:pw@h:5432/d") == "postgresql+asyncpg://u:***@h:5432/d"
    assert mask_url("postgresql+asyncpg://u@h/d") == "postgresql+asyncpg://u@h/d"


def test_pbx_port_defaults_to_the_kind(tmp_path: Path) -> None:
    ast = load(write(tmp_path, '[pbx]\nsecret = "x"\n'), env={})
    fs = load(write(tmp_path, '[pbx]\nsecret = "x"\nkind = "freeswitch"\n'), env={})
    explicit = load(
        write(tmp_path, '[pbx]\nsecret = "x"\nkind = "freeswitch"\nport = 9000\n'), env={}
    )
    assert (ast.pbx.port, fs.pbx.port, explicit.pbx.port) == (5038, 8021, 9000)


def test_ami_over_tls_settings(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    tls = load(write(tmp_path, '[pbx]\nsecret = "x"\ntls = true\n'), env={})
    assert (tls.pbx.tls, tls.pbx.tls_ca, tls.pbx.port) == (True, "", 5039)  # AMI's TLS port
    env = {"DIALER_PBX_TLS": "true", "DIALER_PBX_PORT": "6039"}
    assert load(write(tmp_path, '[pbx]\nsecret = "x"\n'), env=env).pbx.port == 6039
    refused = {
        'kind = "freeswitch"\ntls = true': "pbx.tls: only Asterisk",
        f'tls_ca = "{ca}"': r"pbx.tls_ca: set pbx.tls = true too",
        f'tls = true\ntls_ca = "{tmp_path / "none.pem"}"': "is not a readable file",
        f'tls = true\ntls_ca = "{ca}"': "holds no PEM certificate",
    }
    for text, message in refused.items():
        with pytest.raises(ConfigError, match=message):
            load(write(tmp_path, f'[pbx]\nsecret = "x"\n{text}\n'), env={})


def test_database_commands_read_only_the_database_section(tmp_path: Path) -> None:
    """`dialer migrate`, `dialer leads why`, `dialer dnc`: no PBX secret, no tokens file needed,
    while `dialer run` (`load`) still insists on them."""
    text = '[database]\nurl = "postgresql+asyncpg://u@db:5432/d"\n[http]\ntokens_file = "nope"\n'
    path = write(tmp_path, text)
    assert load_database(path, env={}).url == "postgresql+asyncpg://u@db:5432/d"
    assert load_database(None, env={}).url.endswith("127.0.0.1:5432/dialer")
    env = {"DIALER_DATABASE_URL": "postgresql+asyncpg://x@h/e"}
    assert load_database(None, env=env).url == "postgresql+asyncpg://x@h/e"
    with pytest.raises(ConfigError, match=r"pbx\.secret"):
        load(path, env={})
    with pytest.raises(ConfigError, match=r"database\.url"):
        load_database(None, env={"DIALER_DATABASE_URL": "mysql://x"})
    with pytest.raises(ConfigError, match=r"pbx\.port"):  # a malformed file is still reported
        load_database(write(tmp_path, '[pbx]\nport = "abc"\n'), env={})


def test_a_missing_tokens_file_says_how_to_make_one(tmp_path: Path) -> None:
    text = GOOD + '[http]\ntokens_file = "config/none.toml"\n'
    with pytest.raises(ConfigError) as caught:
        load(write(tmp_path, text), env={})
    message = str(caught.value)
    assert message.startswith("http.tokens_file: config/none.toml is not a readable file")
    assert "config/tokens.example.toml" in message and "DIALER_HTTP_ADMIN_TOKEN" in message


def test_the_shipped_config_needs_only_its_tokens_file(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "config" / "dialer.toml"
    assert 'tokens_file = "config/tokens.toml"' in shipped.read_text()  # made by hand, no secret
    tokens = tmp_path / "tokens.toml"
    tokens.write_text('[[tokens]]\nname = "me"\nrole = "admin"\ntoken = "' + "x" * 32 + '"\n')
    s = load(shipped, env={"DIALER_HTTP_TOKENS_FILE": str(tokens)})
    assert s.pbx.secret and s.http.tokens_file == str(tokens)
