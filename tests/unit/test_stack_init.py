"""`compose-flowise init`: the files it writes, their modes, and what it refuses to do."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from autoscaler import config
from autoscaler.cli import main
from autoscaler.envfile import parse_env
from autoscaler.stack import files
from autoscaler.stack.init import (
    DEFAULT_DIRECTORY,
    SECRETS,
    Layout,
    Ports,
    chosen_secrets,
    env_groups,
    layout_for,
    render_config,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_env_and_config_private_and_points_the_config_at_the_folder(
    tmp_path: Path, capsys
) -> None:
    folder = tmp_path / "stack"
    assert main(["init", str(folder), "--project-name", "shop", "--redis-port", "16379"]) == 0
    env = parse_env((folder / ".env").read_text())
    assert (mode(folder / ".env"), mode(folder / "config.toml")) == (0o600, 0o600)
    assert (folder / "nginx.conf").read_text().startswith("# nginx in front of the Flowise mains")
    settings = config.load(folder / "config.toml", {}).settings
    assert settings.compose.project_name == "shop"
    assert settings.compose.directory == folder
    assert settings.compose.env_file == folder / ".env"
    assert str(settings.redis.url) == f"redis://:{env['REDIS_PASSWORD']}@127.0.0.1:16379/0"
    assert settings.nginx.upstream_file == folder / "state" / "nginx" / "flowise.conf"
    assert env["FLOWISE_UPSTREAM_DIR"] == str(folder / "state" / "nginx")
    assert settings.nginx.upstream_file.parent.is_dir()
    out = capsys.readouterr().out
    assert f"compose-flowise up --config {folder / 'config.toml'}" in out
    assert not any(env[name] in out for name in SECRETS), "secrets are never printed"


def test_every_secret_is_new_strong_and_distinct(tmp_path: Path) -> None:
    main(["init", str(tmp_path / "a")])
    main(["init", str(tmp_path / "b")])
    first = parse_env((tmp_path / "a" / ".env").read_text())
    second = parse_env((tmp_path / "b" / ".env").read_text())
    values = [first[name] for name in SECRETS]
    assert all(len(value) == 64 and int(value, 16) >= 0 for value in values)
    assert len(set(values)) == len(SECRETS)
    assert not set(values) & {second[name] for name in SECRETS}


def test_refuses_to_overwrite_without_force(tmp_path: Path, capsys) -> None:
    assert main(["init", str(tmp_path)]) == 0
    before = (tmp_path / ".env").read_text()
    assert main(["init", str(tmp_path)]) == 1
    assert "already exist: add --force" in capsys.readouterr().err
    assert (tmp_path / ".env").read_text() == before


def test_force_rewrites_the_files_but_keeps_the_secrets(tmp_path: Path) -> None:
    main(["init", str(tmp_path)])
    before = parse_env((tmp_path / ".env").read_text())
    (tmp_path / "nginx.conf").write_text("broken")
    assert main(["init", str(tmp_path), "--force", "--http-port", "8080"]) == 0
    after = parse_env((tmp_path / ".env").read_text())
    assert {n: after[n] for n in SECRETS} == {n: before[n] for n in SECRETS}
    assert after["FLOWISE_HTTP_PORT"] == "8080"
    assert (tmp_path / "nginx.conf").read_text() != "broken"
    assert (tmp_path / "nginx.conf.bak").read_text() == "broken", "the one before is kept"


OPERATOR_VALUES = {
    "FLOWISE_IMAGE": "registry.local/flowise:3.1.4",
    "FLOWISE_HTTP_PORT": "8088",
    "COMPOSE_PROFILES": "",
    "S3_STORAGE_BUCKET_NAME": "uploads",
    "S3_ENDPOINT_URL": "https://s3.example # a hash inside quotes",
    "PULL_POLICY": "never",
}


def edited_stack(folder: Path) -> dict[str, str]:
    """A stack whose operator set values in .env (one quoted) and a key in config.toml."""
    assert main(["init", str(folder), "--project-name", "prod"]) == 0
    env_file = folder / ".env"
    lines = [line for line in env_file.read_text().splitlines()
             if line.partition("=")[0] not in OPERATOR_VALUES]  # fmt: skip
    lines += [f'{key}="{value}"' for key, value in OPERATOR_VALUES.items()]
    env_file.write_text("\n".join(lines) + "\n")
    with (folder / "config.toml").open("a") as config_file:
        config_file.write("\n[services.flowise-worker]\nmax_replicas = 12\n")
    return parse_env(env_file.read_text())


def test_force_keeps_every_value_the_operator_set(tmp_path: Path, capsys) -> None:
    before = edited_stack(tmp_path)
    capsys.readouterr()
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert parse_env((tmp_path / ".env").read_text()) == before
    settings = config.load(tmp_path / "config.toml", {}).settings
    assert settings.compose.project_name == "prod"
    assert settings.services["flowise-worker"].max_replicas == 12
    out = capsys.readouterr().out
    assert "  changed" not in out
    assert "kept as you set them: COMPOSE_PROFILES, S3_STORAGE_BUCKET_NAME" in out
    assert "FLOWISE_IMAGE, S3_ENDPOINT_URL, PULL_POLICY" in out


def test_force_changes_only_what_an_option_says_and_names_each_change(
    tmp_path: Path, capsys
) -> None:
    before = edited_stack(tmp_path)
    capsys.readouterr()
    argv = ["init", str(tmp_path), "--force", "--http-port", "9090", "--project-name", "shop"]
    assert main(argv) == 0
    after = parse_env((tmp_path / ".env").read_text())
    assert after == before | {"FLOWISE_HTTP_PORT": "9090"}
    assert config.load(tmp_path / "config.toml", {}).settings.compose.project_name == "shop"
    out = capsys.readouterr().out
    assert "changed FLOWISE_HTTP_PORT: 8088 -> 9090" in out
    assert "changed compose.project_name: prod -> shop" in out
    assert "the one before is .env.bak" in out
    assert parse_env((tmp_path / ".env.bak").read_text()) == before
    assert mode(tmp_path / ".env.bak") == 0o600
    assert not any(after[name] in out for name in SECRETS), "secrets are never printed"


def test_force_adds_a_missing_secret_and_says_so_without_printing_it(tmp_path, capsys) -> None:
    main(["init", str(tmp_path)])
    env_file = tmp_path / ".env"
    env_file.write_text(env_file.read_text().replace("TOKEN_HASH_SECRET=", "TOKEN_HASH_SECRET=\n#"))
    capsys.readouterr()
    assert main(["init", str(tmp_path), "--force"]) == 0
    secret = parse_env(env_file.read_text())["TOKEN_HASH_SECRET"]
    assert len(secret) == 64
    out = capsys.readouterr().out
    assert "changed TOKEN_HASH_SECRET: (empty) -> a new secret" in out
    assert secret not in out


REFUSED_BEFORE_WRITING = {
    "a config that is not TOML": ("config.toml", "[compose\n", "is not valid TOML"),
    "a port in .env that is no port": (".env", "FLOWISE_HTTP_PORT=http\n",
                                       "FLOWISE_HTTP_PORT=http in .env is not a port"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "text", "message"), REFUSED_BEFORE_WRITING.values(), ids=REFUSED_BEFORE_WRITING.keys()
)
def test_force_refuses_what_it_cannot_keep_and_writes_nothing(
    tmp_path: Path, capsys, name, text, message
) -> None:
    main(["init", str(tmp_path)])
    (tmp_path / name).write_text(text)
    files_before = {path: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    assert main(["init", str(tmp_path), "--force"]) == 2
    assert message in capsys.readouterr().err
    assert {
        path: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()
    } == files_before


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--project-name", "Shop!"], "lower-case letters"),
     (["--http-port", "70000"], "a port is a number from 1 to 65535, not '70000'"),
     (["--http-port", "abc"], "a port is a number from 1 to 65535, not 'abc'")],
    ids=["bad project name", "port out of range", "port not a number"],
)  # fmt: skip
def test_rejects_bad_options_with_exit_2(tmp_path: Path, capsys, args, message) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["init", str(tmp_path), *args])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_the_system_folder_keeps_its_state_in_var_lib() -> None:
    assert layout_for(DEFAULT_DIRECTORY).state == config.STATE_DIR
    assert DEFAULT_DIRECTORY / "config.toml" == config.SYSTEM_CONFIG


def test_the_rendered_config_is_valid_and_matches_the_env_file() -> None:
    layout = Layout(Path("/srv/flowise"), Path("/srv/flowise/state"))
    ports = Ports(http=8080, redis=16379, stub_status=18081)
    secrets = chosen_secrets({}, lambda: "x" * 64)
    settings = config.parse(render_config(layout, "shop", ports, secrets["REDIS_PASSWORD"]), "t")
    env = {k: v for _, values in env_groups(layout, ports, secrets) for k, v in values.items()}
    assert (
        str(settings.nginx.stub_status_url)
        == f"http://127.0.0.1:{env['NGINX_STATUS_PORT']}/nginx_status"
    )
    assert settings.redis.url.port == int(env["REDIS_HOST_PORT"])
    assert settings.nginx.upstream_file.parent == Path(env["FLOWISE_UPSTREAM_DIR"])
    assert settings.daemon.state_file == Path("/srv/flowise/state/state.json")


def test_kept_secrets_win_over_new_ones() -> None:
    chosen = chosen_secrets({"REDIS_PASSWORD": "old", "JWT_ISSUER": "mine"}, lambda: "new")
    assert (chosen["REDIS_PASSWORD"], chosen["POSTGRES_PASSWORD"]) == ("old", "new")
    assert (chosen["JWT_ISSUER"], chosen["JWT_AUDIENCE"]) == ("mine", "compose-flowise")


def test_a_folder_it_may_not_write_gets_a_hint(tmp_path: Path, monkeypatch, capsys) -> None:
    def refused(*_args) -> None:
        raise PermissionError(13, "Permission denied", "/etc/compose-flowise")

    monkeypatch.setattr(files, "_write_all", refused)
    assert main(["init", str(tmp_path)]) == 1
    assert "run as root, or give a folder of your own" in capsys.readouterr().err


CLASHING_PORTS = {
    "the public port on Redis's": (
        ["--http-port", "6379"],
        "port 6379 is taken twice on this host, by --http-port (FLOWISE_HTTP_PORT) and --redis-port (REDIS_HOST_PORT)",
    ),
    "stub_status on the daemon's metrics": (
        ["--status-port", "9464"],
        "port 9464 is taken twice on this host, by --status-port (NGINX_STATUS_PORT) and the daemon's metrics",
    ),
}


@pytest.mark.parametrize(("args", "message"), CLASHING_PORTS.values(), ids=CLASHING_PORTS.keys())
def test_a_port_taken_twice_is_refused_before_writing(
    tmp_path: Path, capsys, args, message
) -> None:
    assert main(["init", str(tmp_path / "stack"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "stack").exists()


def test_a_file_given_as_the_folder_is_named_as_such(tmp_path: Path, capsys) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    assert main(["init", str(path)]) == 2
    assert f"{path} is a file: init takes the folder" in capsys.readouterr().err
    assert path.read_text() == "mine"
