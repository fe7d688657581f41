"""The generated id-token key: created 0600 from the start, once, and where the setting says."""

import stat
from pathlib import Path

from gridstream.parts import id_token_key
from gridstream.settings import Settings


def test_generated_key_is_0600_and_stable(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    first = id_token_key(settings)
    path = tmp_path / "data" / "id_token.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first) == 64  # 32 random bytes in hex
    assert id_token_key(settings) == first


def test_existing_key_is_kept_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "k"
    path.parent.mkdir()
    path.write_text("abc\n")
    settings = Settings(data_dir=tmp_path / "data", id_token_key_file=path)
    assert id_token_key(settings) == b"abc"


def test_key_file_outside_data_dir(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "id_token.key"
    settings = Settings(data_dir=tmp_path / "data", id_token_key_file=path)
    key = id_token_key(settings)
    assert path.read_text().encode() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not (tmp_path / "data" / "id_token.key").exists()
