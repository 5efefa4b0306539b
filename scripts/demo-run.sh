#!/usr/bin/env bash
# The seed's story, end to end on this machine (loopback only, nothing left behind):
# Alice administers mangabey; Bob's OpenPGP key is certified by Alice; mangabey trusts
# Alice as identity certifier, so Bob logs in with his authentication subkey through a
# real sshd, until he revokes his key. Uses the installed commands (scripts/setup.sh).
set -euo pipefail

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

# sshd's StrictModes refuses files under world-writable /tmp, so work under $HOME.
BASE="${HOME}/.cache/monkeysphere-demo"
mkdir -p "$BASE" && chmod 755 "$BASE"
DEMO=$(mktemp -d "$BASE/run.XXXXXX") && chmod 755 "$DEMO"
SSHD_PID=
cleanup() {
  [[ -n $SSHD_PID ]] && kill "$SSHD_PID" 2>/dev/null || true
  gpgconf --homedir "$DEMO/alice" --kill all 2>/dev/null || true
  gpgconf --homedir "$DEMO/bob" --kill all 2>/dev/null || true
  rm -rf "$DEMO"
}
trap cleanup EXIT

export MONKEYSPHERE_SYSCONFIGDIR="$DEMO/etc" MONKEYSPHERE_SYSDATADIR="$DEMO/var" \
  MONKEYSPHERE_MONKEYSPHERE_USER="$(id -un)" MONKEYSPHERE_PROMPT=false MONKEYSPHERE_CHECK_KEYSERVER=false \
  MONKEYSPHERE_RAW_AUTHORIZED_KEYS=none MONKEYSPHERE_AUTHORIZED_USER_IDS="$DEMO/home/.monkeysphere/authorized_user_ids"
mkdir -p "$DEMO/etc" "$DEMO/var" "$DEMO/home/.monkeysphere" && chmod 755 "$DEMO/home" "$DEMO/home/.monkeysphere"
G=(--batch --pinentry-mode loopback --passphrase "")
mkdir -m 700 "$DEMO/alice" "$DEMO/bob"

say "Alice and Bob make their OpenPGP keys; Bob adds an authentication subkey; Alice certifies Bob"
gpg --homedir "$DEMO/alice" "${G[@]}" -q --quick-gen-key 'Alice <alice@example.org>' ed25519 cert 0
gpg --homedir "$DEMO/bob" "${G[@]}" -q --quick-gen-key 'Bob <bob@example.org>' ed25519 cert 0
BOB=$(gpg --homedir "$DEMO/bob" --with-colons --list-keys | awk -F: '/^fpr/{print $10; exit}')
gpg --homedir "$DEMO/bob" "${G[@]}" -q --quick-add-key "$BOB" ed25519 auth 0
gpg --homedir "$DEMO/bob" --export "$BOB" | gpg --homedir "$DEMO/alice" -q --import
gpg --homedir "$DEMO/alice" "${G[@]}" -q --quick-sign-key "$BOB"
gpg --homedir "$DEMO/alice" --export 'alice@example.org' > "$DEMO/alice.pgp"
gpg --homedir "$DEMO/alice" --export "$BOB" > "$DEMO/bob.pgp"
echo "Bob's key: $BOB"

say "mangabey publishes its ssh host key as an OpenPGP certificate"
ssh-keygen -q -t ed25519 -N '' -f "$DEMO/ssh_host_ed25519_key"
run monkeysphere-host import-key "$DEMO/ssh_host_ed25519_key" ssh://mangabey.example.org
run monkeysphere-host show-keys

say "mangabey names Alice identity certifier and learns Bob's certificate"
run monkeysphere-authentication setup
run monkeysphere-authentication add-id-certifier "$DEMO/alice.pgp"
run monkeysphere-authentication list-id-certifiers
run monkeysphere-authentication gpg-cmd --import < "$DEMO/bob.pgp"
echo 'Bob <bob@example.org>' > "$MONKEYSPHERE_AUTHORIZED_USER_IDS"
run monkeysphere-authentication update-users "$(id -un)"
echo "--- $MONKEYSPHERE_SYSDATADIR/authorized_keys/$(id -un):"
cat "$MONKEYSPHERE_SYSDATADIR/authorized_keys/$(id -un)"

say "Bob logs in to a real sshd with his authentication subkey"
SUB=$(gpg --homedir "$DEMO/bob" --with-colons --list-keys "$BOB" | awk -F: '/^sub/{s=$5} END{print s}')
gpg --homedir "$DEMO/bob" "${G[@]}" --export-secret-subkeys "${SUB}!" | openpgp2ssh "$SUB" > "$DEMO/bob_id" && chmod 600 "$DEMO/bob_id"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p /run/sshd
cat > "$DEMO/sshd_config" <<CFG
ListenAddress 127.0.0.1:$PORT
HostKey $DEMO/ssh_host_ed25519_key
PidFile none
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AuthorizedKeysFile $MONKEYSPHERE_SYSDATADIR/authorized_keys/%u
CFG
/usr/sbin/sshd -D -e -f "$DEMO/sshd_config" 2> "$DEMO/sshd.log" & SSHD_PID=$!
for _ in $(seq 50); do grep -q 'Server listening' "$DEMO/sshd.log" && break; sleep 0.1; done
SSH=(ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -i "$DEMO/bob_id" -p "$PORT" "$(id -un)@127.0.0.1")
run "${SSH[@]}" 'echo "logged in to mangabey as $(whoami), with the key the web of trust bound to Bob"'

say "Bob revokes his key; mangabey learns the revocation and access ends"
# gpg made a revocation certificate with the key; its armor is defused with a leading ':'.
sed 's/^:-----/-----/' "$DEMO/bob/openpgp-revocs.d/$BOB.rev" | gpg --homedir "$DEMO/bob" -q --import
gpg --homedir "$DEMO/bob" --export "$BOB" | monkeysphere-authentication gpg-cmd --import
run monkeysphere-authentication update-users "$(id -un)"
if "${SSH[@]}" true 2>/dev/null; then echo "ERROR: Bob still got in" >&2; exit 1; fi
echo "login refused, as it should be"
printf '\nDemo complete: certification granted access, revocation took it away.\n'
