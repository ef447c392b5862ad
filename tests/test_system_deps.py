"""scripts/install-system-deps waits for a busy apt (another package manager holding its locks), with a
bound, instead of failing at once. apt-get is a stand-in here that fails while "busy" and records its
arguments; nothing is installed."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "install-system-deps"


def _fake_system(tmp_path, busy_updates):
    """A PATH with no bwrap or chromium, and an apt-get whose first `busy_updates` updates fail."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "env", "id", "date", "cat"):
        os.symlink(subprocess.run(["bash", "-c", "command -v %s" % tool], capture_output=True, text=True,
                                  check=True).stdout.strip(), bin_dir / tool)
    (bin_dir / "sleep").write_text("#!/bin/bash\nexit 0\n")
    (bin_dir / "apt-get").write_text(
        "#!/bin/bash\necho \"$*\" >> %s/calls\n"
        "if [[ \" $* \" == *' update '* ]]; then\n"
        "  n=$(cat %s/updates 2>/dev/null || echo 0); echo $((n + 1)) > %s/updates\n"
        "  [ \"$n\" -lt %d ] && { echo 'E: Could not get lock /var/lib/apt/lists/lock' >&2; exit 100; }\n"
        "fi\nexit 0\n" % (tmp_path, tmp_path, tmp_path, busy_updates))
    for stub in ("sleep", "apt-get"):
        (bin_dir / stub).chmod(0o755)
    return {"PATH": str(bin_dir), "HOME": str(tmp_path)}


def test_a_busy_apt_is_waited_for(tmp_path):
    env = dict(_fake_system(tmp_path, busy_updates=2), APT_LOCK_TIMEOUT="60")
    ran = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [c.split()[-2:] for c in calls[:3]] == [["update", "-qq"]] * 3
    assert calls[3].startswith("-o DPkg::Lock::Timeout=60 install") and "bubblewrap chromium" in calls[3]
    assert all(c.startswith("-o DPkg::Lock::Timeout=60 ") for c in calls)
    assert ran.stderr.count("trying again") == 2


def test_an_apt_that_stays_busy_fails_within_the_bound(tmp_path):
    env = dict(_fake_system(tmp_path, busy_updates=10 ** 6), APT_LOCK_TIMEOUT="1")
    ran = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 1
    assert "kept failing for 1 s" in ran.stderr
    assert "install" not in (tmp_path / "calls").read_text()
