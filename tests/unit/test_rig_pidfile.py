"""The rig finds Asterisk's pidfile inside its chroot, where var/run is a symlink to /run."""

from __future__ import annotations

from pathlib import Path

from rig.asterisk import Asterisk


def test_the_pidfile_is_looked_up_inside_the_chroot(tmp_path: Path) -> None:
    (tmp_path / "var").mkdir()
    (tmp_path / "var/run").symlink_to("/run")  # as debootstrap leaves it: absolute
    assert Asterisk(root=tmp_path).pidfile == tmp_path / "run/asterisk/asterisk.pid"


def test_a_plain_var_run_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "var/run").mkdir(parents=True)
    assert Asterisk(root=tmp_path).pidfile == tmp_path / "var/run/asterisk/asterisk.pid"
