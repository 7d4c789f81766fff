"""The never-approvable list: what it blocks, and the look-alikes it must let through."""

from __future__ import annotations

import dataclasses
import shlex

import pytest

from aman.tools.hardline import RULES, Block, check_command, check_path, normalise_path

HOME = "/home/alice"
CWD = "/home/alice/project"


def case(command: str | list[str], *rest: str, id: str) -> object:  # noqa: A002 - reads like pytest's
    return pytest.param(command, *rest, id=id)


BLOCKED = [
    # recursive deletes of / and home
    case("rm -rf /", "rm_root", id="rm-rf-root"),
    case("rm -fr /", "rm_root", id="rm-fr-root"),
    case("rm -r -f /*", "rm_root", id="rm-r-f-root-glob"),
    case("rm -rf --no-preserve-root /", "rm_root", id="no-preserve-root"),
    case("rm --recursive --force /", "rm_root", id="long-options"),
    case('rm -rf "/"', "rm_root", id="double-quoted-root"),
    case("rm -rf '/'", "rm_root", id="single-quoted-root"),
    case("rm -rf //", "rm_root", id="double-slash"),
    case("rm -rf /usr/..", "rm_root", id="dotdot-to-root"),
    case("rm -rf / # tidy up", "rm_root", id="root-before-comment"),
    case("rm -rf \\\n  /", "rm_root", id="line-continuation"),
    case("rm -rf ~", "rm_home", id="rm-home-tilde"),
    case("rm -fr ~/", "rm_home", id="rm-home-tilde-slash"),
    case("rm -rf $HOME", "rm_home", id="rm-dollar-home"),
    case('rm -rf "${HOME}"', "rm_home", id="rm-braced-home"),
    case("rm -rf ~/*", "rm_home", id="rm-home-contents"),
    case("rm -rf ~/.*", "rm_home", id="rm-home-dotfiles"),
    case("rm -rf /home/alice", "rm_home", id="rm-home-absolute"),
    case("rm -rf /home", "rm_home", id="rm-above-home"),
    case("rm -rf ..", "rm_home", id="rm-parent-of-cwd-is-home"),
    case("cd / && rm -rf *", "rm_root", id="cd-root-then-glob"),
    case("cd; rm -rf .", "rm_home", id="cd-home-then-dot"),
    case("rm -rf /usr", "rm_system_dir", id="rm-usr"),
    case("find / -delete", "rm_root", id="find-root-delete"),
    case("find . -exec rm -rf / \\;", "rm_root", id="find-exec"),
    # hidden in compound commands, substitutions and wrappers
    case("ls; rm -rf /", "rm_root", id="after-semicolon"),
    case("make && rm -rf /", "rm_root", id="after-and"),
    case("false || rm -rf ~", "rm_home", id="after-or"),
    case("echo hi | rm -rf /", "rm_root", id="in-pipe"),
    case("sleep 1 & rm -rf /", "rm_root", id="after-background"),
    case("echo ok\nrm -rf /", "rm_root", id="second-line"),
    case("(cd /tmp && rm -rf /)", "rm_root", id="subshell"),
    case("if true; then rm -rf /; fi", "rm_root", id="if-then"),
    case("echo $(rm -rf /)", "rm_root", id="dollar-paren"),
    case('echo "$(rm -rf /)"', "rm_root", id="dollar-paren-in-double-quotes"),
    case("echo `rm -rf ~`", "rm_home", id="backticks"),
    case("diff <(rm -rf /) x", "rm_root", id="process-substitution"),
    case('bash -c "rm -rf /"', "rm_root", id="bash-c"),
    case("sh -c 'rm -rf ~'", "rm_home", id="sh-c"),
    case('zsh -lc "cd /tmp; rm -rf /"', "rm_root", id="zsh-lc"),
    case('eval "rm -rf /"', "rm_root", id="eval"),
    case("sudo rm -rf /", "rm_root", id="sudo"),
    case("sudo -u root rm -rf --no-preserve-root /", "rm_root", id="sudo-with-user"),
    case("env FOO=1 rm -rf /", "rm_root", id="env-assignment"),
    case('env -S "rm -rf /"', "rm_root", id="env-split-string"),
    case("FOO=1 rm -rf /", "rm_root", id="leading-assignment"),
    case("nohup rm -rf / &", "rm_root", id="nohup"),
    case("time rm -rf /", "rm_root", id="time"),
    case("xargs rm -rf /", "rm_root", id="xargs"),
    case("sudo bash -c \"eval 'rm -rf /'\"", "rm_root", id="nested-sudo-bash-eval"),
    case("bash <<EOF\nrm -rf /\nEOF", "rm_root", id="heredoc-into-bash"),
    case('echo "rm -rf /" | bash', "rm_root", id="echo-piped-into-bash"),
    case("cat <<EOF | sh\nreboot\nEOF", "power", id="cat-heredoc-piped-into-sh"),
    case("printf 'reboot\\n' | sh", "power", id="printf-piped-into-sh"),
    case('bash <<< "reboot"', "power", id="here-string-into-bash"),
    case("cat > x <<EOF\n$(reboot)\nEOF", "power", id="substitution-in-heredoc"),
    # fork bombs
    case(":(){ :|:& };:", "fork_bomb", id="fork-bomb"),
    case(":(){:|:&};:", "fork_bomb", id="fork-bomb-no-spaces"),
    case("bomb(){ bomb|bomb& }; bomb", "fork_bomb", id="fork-bomb-renamed"),
    case("function f { f | f & }; f", "fork_bomb", id="fork-bomb-function-keyword"),
    case("bash -c ':(){ :|:& };:'", "fork_bomb", id="fork-bomb-in-bash-c"),
    # filesystems and raw devices
    case("mkfs.ext4 /dev/sdb1", "mkfs", id="mkfs-ext4"),
    case("mkfs -t ext4 /dev/sda", "mkfs", id="mkfs-t"),
    case("sudo mkfs.vfat /dev/mmcblk0p1", "mkfs", id="sudo-mkfs-vfat"),
    case("mke2fs /dev/sdb", "mkfs", id="mke2fs"),
    case("dd if=/dev/zero of=/dev/sda bs=1M", "dd_block_device", id="dd-sda"),
    case("dd if=image.iso of=/dev/nvme0n1", "dd_block_device", id="dd-nvme"),
    case("sudo dd if=/dev/urandom of=/dev/vda", "dd_block_device", id="sudo-dd-vda"),
    case("dd of=/dev/mmcblk0 if=x.img", "dd_block_device", id="dd-mmcblk"),
    case("dd if=x.img of=/dev/disk2", "dd_block_device", id="dd-macos-disk"),
    case("cat image.img > /dev/sdb", "write_block_device", id="redirect-onto-disk"),
    case("wipefs -a /dev/sda", "write_block_device", id="wipefs"),
    # killing everything, power
    case("kill -1", "kill_all", id="kill-minus-1"),
    case("kill -9 -1", "kill_all", id="kill-9-minus-1"),
    case("kill -KILL -1", "kill_all", id="kill-named-signal"),
    case("kill -s KILL -1", "kill_all", id="kill-s"),
    case("kill -- -1", "kill_all", id="kill-double-dash"),
    case("sudo kill -9 -1", "kill_all", id="sudo-kill"),
    case("killall5 -9", "kill_all", id="killall5"),
    case("shutdown -h now", "power", id="shutdown"),
    case("reboot", "power", id="reboot"),
    case("sudo reboot", "power", id="sudo-reboot"),
    case("doas poweroff", "power", id="doas-poweroff"),
    case("/sbin/halt", "power", id="halt-full-path"),
    case("env DISPLAY=:0 shutdown now", "power", id="env-shutdown"),
    case("exec reboot", "power", id="exec-reboot"),
    case("command reboot", "power", id="command-reboot"),
    case("echo x | xargs reboot", "power", id="xargs-reboot"),
    case("timeout 5 sudo poweroff", "power", id="timeout-sudo-poweroff"),
    case("sleep 60 && shutdown -r now", "power", id="delayed-shutdown"),
    case("systemctl poweroff", "power", id="systemctl-poweroff"),
    case("sudo systemctl reboot", "power", id="sudo-systemctl-reboot"),
    case("systemctl isolate reboot.target", "power", id="systemctl-isolate-target"),
    case("init 0", "power", id="init-0"),
    case("telinit 6", "power", id="telinit-6"),
    case("watch reboot", "power", id="watch"),
    case('su -c "reboot"', "power", id="su-c"),
    # chmod / chown of /
    case("chmod -R 777 /", "chmod_root", id="chmod-R-root"),
    case("chown -R alice:alice /", "chmod_root", id="chown-R-root"),
    case("sudo chmod -R 000 /*", "chmod_root", id="chmod-R-root-glob"),
    case("chgrp -R staff /", "chmod_root", id="chgrp-R-root"),
    # protected files
    case("echo key >> ~/.ssh/authorized_keys", "protected_file", id="append-authorized-keys"),
    case("cat id > ~/.ssh/id_rsa", "protected_file", id="overwrite-ssh-key"),
    case("echo alias >> ~/.bashrc", "protected_file", id="append-bashrc"),
    case("echo X=1 >> .env", "protected_file", id="append-relative-env"),
    case("echo x > ~/project/../.bashrc", "protected_file", id="dotdot-to-bashrc"),
    case("ls &> ~/.profile", "protected_file", id="ampersand-redirect"),
    case("tee ~/.ssh/authorized_keys", "protected_file", id="tee-ssh"),
    case("echo 'alice ALL=(ALL) NOPASSWD:ALL' | sudo tee -a /etc/sudoers", "protected_file",
         id="sudo-tee-sudoers"),
    case("cp evil ~/.zshrc", "protected_file", id="cp-onto-zshrc"),
    case("cp /tmp/.bashrc ~", "protected_file", id="cp-into-home-lands-on-bashrc"),
    case("mv ~/.ssh/id_ed25519 /tmp/", "protected_file", id="mv-ssh-key-away"),
    case("mv key ~/.ssh/", "protected_file", id="mv-into-ssh"),
    case("rm ~/.ssh/config", "protected_file", id="rm-ssh-config"),
    case("rm .env.local", "protected_file", id="rm-env-local"),
    case("rm -f .env*", "protected_file", id="rm-env-glob"),
    case("sed -i 's/a/b/' ~/.profile", "protected_file", id="sed-in-place-profile"),
    case("ln -sf /tmp/x ~/.bash_profile", "protected_file", id="ln-over-bash-profile"),
    case("cp .env.example .env", "protected_file", id="cp-template-onto-env"),
    case("echo x > ~/.config/fish/config.fish", "protected_file", id="fish-config"),
    case("truncate -s 0 /etc/passwd", "protected_file", id="truncate-passwd"),
    case("sudo rm -f /etc/shadow", "protected_file", id="rm-shadow"),
    case("echo x > /etc/sudoers.d/aman", "protected_file", id="sudoers-d"),
    case("echo machine x > ~/.netrc", "protected_file", id="netrc"),
    case("echo x > ~/.pgpass", "protected_file", id="pgpass"),
    case("echo x > ~/.npmrc", "protected_file", id="npmrc"),
    case("echo x > ~/.pypirc", "protected_file", id="pypirc"),
    case("cat > ~/.zprofile <<'EOF'\nexport X=1\nEOF", "protected_file",
         id="heredoc-into-zprofile"),
    case("shred -u ~/.ssh/id_rsa", "protected_file", id="shred-ssh-key"),
    case("dd if=x of=~/.bashrc", "protected_file", id="dd-onto-bashrc"),
    # unparseable, argv lists
    case('rm -rf / "unterminated', "unparseable", id="unbalanced-quote-with-rm"),
    case(["rm", "-rf", "/"], "rm_root", id="argv-rm-root"),
    case(["bash", "-c", "reboot"], "power", id="argv-bash-c"),
    case(["/usr/bin/sudo", "shutdown", "now"], "power", id="argv-sudo-shutdown"),
]

ALLOWED = [
    case('echo "rm -rf /"', id="echo-quoted-rm"),
    case("echo 'rm -rf ~'", id="echo-single-quoted-rm-home"),
    case("grep 'mkfs' notes.txt", id="grep-mkfs"),
    case('git commit -m "reboot the server"', id="commit-message-reboot"),
    case('git commit -m "fix: rm -rf / bug; reboot"', id="commit-message-with-semicolon"),
    case("printf '%s\\n' 'kill -9 -1'", id="printf-kill-text"),
    case("python -c \"print('rm -rf /')\"", id="python-prints-rm"),
    case("echo ':(){ :|:& };:'", id="echo-fork-bomb-text"),
    case('echo "$(date) rebooting soon"', id="substitution-that-is-harmless"),
    case("echo hi # ; rm -rf /", id="rm-inside-comment"),
    case("cat <<'EOF' > notes.md\nrm -rf /\nreboot\nEOF", id="heredoc-text-into-file"),
    case("rm -rf build/", id="rm-build"),
    case("rm -rf ./node_modules", id="rm-node-modules"),
    case("rm -rf /tmp/aman-test", id="rm-tmp-dir"),
    case("rm -rf ~/project/dist", id="rm-under-home"),
    case('rm -r -f "$HOME/tmp"', id="rm-home-subdir"),
    case("rm -rf /home/alice2", id="rm-other-dir-sharing-prefix"),
    case('rm -rf "$BUILD_DIR"/*', id="rm-unknown-variable"),
    case("rm notes.txt", id="rm-file"),
    case("rm -rf *", id="rm-glob-in-project"),
    case("find . -name '*.pyc' -delete", id="find-delete-filtered"),
    case("find ~ -name '*.tmp' -delete", id="find-home-delete-filtered"),
    case("find / -name passwd", id="find-root-no-delete"),
    case("docker run --rm alpine echo hi", id="docker-rm-flag"),
    case("git rm -r --cached .", id="git-rm"),
    case("chmod -R 755 ./public", id="chmod-R-project"),
    case("chown -R alice /srv/app", id="chown-R-srv"),
    case("chmod -R u+w ~/project", id="chmod-R-home-subdir"),
    case("kill -9 1234", id="kill-pid"),
    case("kill -1 1234", id="kill-hup-to-pid"),
    case("kill %1", id="kill-job"),
    case("kill -l", id="kill-list-signals"),
    case("pkill -f myserver", id="pkill"),
    case("man shutdown", id="man-shutdown"),
    case("which reboot", id="which-reboot"),
    case("command -v poweroff", id="command-v"),
    case("echo reboot", id="echo-reboot"),
    case("systemctl restart nginx", id="systemctl-restart"),
    case("systemctl status reboot.target", id="systemctl-status-target"),
    case("git init", id="git-init"),
    case("npm run reboot", id="npm-script-named-reboot"),
    case("grep -n shutdown app.log && echo done", id="grep-shutdown"),
    case("dd if=/dev/zero of=disk.img bs=1M count=10", id="dd-to-file"),
    case("dd if=/dev/sda of=backup.img", id="dd-from-disk"),
    case("dd if=/dev/urandom of=/dev/null count=1", id="dd-to-null"),
    case("mkdir -p build && make 2>&1 | tee build.log", id="build-with-tee"),
    case("ls > /dev/null 2>&1", id="redirect-to-null"),
    case("cat ~/.ssh/id_rsa.pub", id="read-ssh-public-key"),
    case("cat .env", id="read-env"),
    case("grep -r TODO ~/.bashrc", id="grep-bashrc"),
    case("sed 's/x/y/' ~/.bashrc", id="sed-not-in-place"),
    case("sed -i 's/a/b/' README.md", id="sed-in-place-readme"),
    case("echo X=1 >> .env.example", id="env-template"),
    case("echo x > .envrc", id="envrc"),
    case("echo x > environment.txt", id="environment-file"),
    case("cp config.yaml ~/backup/", id="cp-to-backup"),
    case("mv build dist", id="mv-dir"),
    case("rsync -a src/ /srv/www/", id="rsync"),
    case("f() { echo hi; }; f", id="plain-function"),
    case('walk() { for d in *; do walk "$d"; done; }', id="recursive-function-without-pipe"),
    case("ls | grep foo | wc -l", id="pipeline"),
    case('echo "hello', id="unbalanced-quote-harmless"),
    case("sudo apt-get install -y ripgrep", id="sudo-apt"),
    case("env FOO=bar python app.py", id="env-python"),
    case("bash -c 'echo hi && ls'", id="bash-c-harmless"),
    case("sh script.sh", id="sh-script"),
    case("echo ls | sh", id="echo-harmless-into-sh"),
    case(["echo", "rm", "-rf", "/"], id="argv-echo"),
    case(["git", "commit", "-m", "reboot; rm -rf /"], id="argv-commit-message"),
    case(["ls", ";", "reboot"], id="argv-has-no-shell"),
]


@pytest.mark.parametrize(("command", "rule"), BLOCKED)
def test_blocked_commands_carry_their_rule(command: str | list[str], rule: str) -> None:
    block = check_command(command, home=HOME, cwd=CWD)
    assert block is not None
    assert block.rule == rule
    assert block.reason


@pytest.mark.parametrize("command", ALLOWED)
def test_look_alikes_are_allowed(command: str | list[str]) -> None:
    assert check_command(command, home=HOME, cwd=CWD) is None


def test_the_tables_are_big_enough_and_cover_every_rule() -> None:
    assert len(BLOCKED) >= 40
    assert len(ALLOWED) >= 40
    assert {param.values[1] for param in BLOCKED} == set(RULES)


def test_block_is_frozen_and_names_what_was_found() -> None:
    block = check_command("ls && sudo rm -rf /", home=HOME)
    assert block == Block("rm_root", block.reason if block else "")
    assert block is not None and "rm -rf /" in block.reason
    with pytest.raises(dataclasses.FrozenInstanceError):
        block.rule = "other"  # type: ignore[misc]


def test_home_is_recognised_without_being_told() -> None:
    assert (block := check_command("rm -rf ~")) is not None and block.rule == "rm_home"
    assert check_command("rm -rf ~/project/build") is None


def test_relative_paths_need_a_cwd_to_reach_home() -> None:
    assert check_command("rm -rf ..", home=HOME) is None
    assert (block := check_command("rm -rf ..", home=HOME, cwd="~/project")) is not None
    assert block.rule == "rm_home"


def test_deep_nesting_is_blocked() -> None:
    command = "echo hi"
    for _ in range(10):
        command = f"bash -c {shlex.quote(command)}"
    assert (block := check_command(command)) is not None and block.rule == "unparseable"


PATHS_BLOCKED = [
    case("~/.ssh/authorized_keys", "write", "protected_file", id="authorized-keys"),
    case("/home/alice/.ssh/id_rsa", "delete", "protected_file", id="ssh-key-absolute"),
    case("~/.ssh/config", "edit", "protected_file", id="ssh-config"),
    case("~/.ssh", "move", "protected_file", id="ssh-dir"),
    case("/root/.ssh/authorized_keys", "write", "protected_file", id="another-users-ssh"),
    case("$HOME/.bashrc", "write", "protected_file", id="dollar-home-bashrc"),
    case("${HOME}/.zshrc", "edit", "protected_file", id="braced-home-zshrc"),
    case("~/project/../.profile", "write", "protected_file", id="dotdot-profile"),
    case("~/.BASHRC", "write", "protected_file", id="case-insensitive"),
    case("~/.config/fish/config.fish", "edit", "protected_file", id="fish-config"),
    case(".env", "write", "protected_file", id="relative-env"),
    case("config/.env.production", "write", "protected_file", id="env-production"),
    case("~/.netrc", "write", "protected_file", id="netrc"),
    case("~/.pgpass", "edit", "protected_file", id="pgpass"),
    case("~/.npmrc", "delete", "protected_file", id="npmrc"),
    case("~/.pypirc", "move", "protected_file", id="pypirc"),
    case("/etc/sudoers", "edit", "protected_file", id="sudoers"),
    case("/etc/sudoers.d/aman", "write", "protected_file", id="sudoers-d"),
    case("/etc/passwd", "write", "protected_file", id="passwd"),
    case("/etc/shadow", "delete", "protected_file", id="shadow"),
    case("/", "delete", "rm_root", id="delete-root"),
    case("~", "delete", "rm_home", id="delete-home"),
    case("/home", "move", "rm_home", id="move-above-home"),
    case("/usr", "delete", "rm_system_dir", id="delete-usr"),
    case("/dev/sda", "write", "write_block_device", id="write-disk"),
]

PATHS_ALLOWED = [
    case("~/project/main.py", "write", id="project-file"),
    case("~/.sshrc", "write", id="sshrc-is-not-ssh"),
    case("~/notes/ssh.md", "edit", id="ssh-notes"),
    case(".env.example", "write", id="env-example"),
    case(".envrc", "write", id="envrc"),
    case("src/env.py", "edit", id="env-module"),
    case("~/.bashrc.bak", "write", id="bashrc-backup-name"),
    case("/etc/hosts", "edit", id="etc-hosts"),
    case("~/project", "delete", id="delete-project"),
    case("/tmp", "move", id="move-tmp"),
    case("/home/alice2", "delete", id="prefix-of-home"),
    case("/dev/null", "write", id="dev-null"),
    case("/usr/local/share/aman/x", "delete", id="deep-under-usr"),
]


@pytest.mark.parametrize(("path", "operation", "rule"), PATHS_BLOCKED)
def test_blocked_paths_carry_their_rule(path: str, operation: str, rule: str) -> None:
    block = check_path(path, operation, home=HOME, cwd=CWD)  # type: ignore[arg-type]
    assert block is not None
    assert block.rule == rule


@pytest.mark.parametrize(("path", "operation"), PATHS_ALLOWED)
def test_allowed_paths(path: str, operation: str) -> None:
    assert check_path(path, operation, home=HOME, cwd=CWD) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("path", "cwd", "expected"),
    [
        ("~", None, HOME),
        ("~/a/../b/./c", None, f"{HOME}/b/c"),
        ("$HOME/x", None, f"{HOME}/x"),
        ("${HOME}", None, HOME),
        ("x/../../y", "/srv/app", "/srv/y"),
        ("//etc//passwd", None, "/etc/passwd"),
        ("relative/x", None, "relative/x"),
        ("$HOMEDIR/x", None, "$HOMEDIR/x"),
    ],
)
def test_normalise_path(path: str, cwd: str | None, expected: str) -> None:
    assert normalise_path(path, home=HOME, cwd=cwd) == expected
