#!/usr/bin/env bash
# Sets up this checkout on Debian 12 (bookworm): system packages, npm dependencies,
# the TypeScript build (dist/), and the commands on PATH. Idempotent: a second run
# installs nothing, skips apt-get update, and only rebuilds what changed.
#
# Run as root on a fresh machine. As another user it works if the packages are
# already installed, and links the commands into ~/.local/bin instead.
#
# Environment:
#   MS_BIN_DIR       where to link the commands (default /usr/local/bin as root,
#                    ~/.local/bin otherwise); MS_BIN_DIR=none skips linking and installing
#   MS_PREFIX        as root: where the root-owned copy the commands run from is installed
#                    (default /usr/local/lib/monkeysphere)
#   MS_SKIP_APT=1    do not check or install Debian packages
set -euo pipefail

# Every Debian package the project and its tests need. Add new ones here.
APT_PACKAGES=(
  gnupg gpg-agent dirmngr            # the OpenPGP oracle (gpg 2.2.40)
  openssh-client openssh-server      # ssh-keygen, ssh-agent, sshd for end-to-end tests
  socat                              # unix-socket plumbing in tests
  sks                                # SKS keyserver 1.1.6, the recon peer
  debian-keyring                     # a real web of trust (/usr/share/keyrings)
  sq-wot                             # sequoia-wot 0.2.0, the WoT oracle
  faketime                           # frozen clocks for tools without their own option
  curl procps ca-certificates
  postgresql postgresql-contrib      # store backend (pg_virtualenv, pg_trgm)
  python3 make g++                   # better-sqlite3 is built from source by node-gyp
  chromium                           # headless browser tests of the web pages
  hyperfine                          # command-line benchmarks
  wrk                                # HTTP load generator: keyserver lookups, ours against SKS
  systemd                            # systemd-analyze checks contrib/systemd units
  libcrypt-openssl-rsa-perl lockfile-progs  # Monkeysphere 0.43 itself, to remake test/fixtures/ms043
  msva-perl libwww-perl              # the original validation agent and its msva-query-agent (LWP), the TLS tests' oracle and client
  firefox-esr                        # headless Firefox for the browser extension's tests (issue 15)
  libnss3-tools                      # certutil: the extension test's Firefox profile trusts its test CA
)

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

# --- 1. Debian packages ------------------------------------------------------------
install_apt_packages() {
  local missing=() pkg status
  for pkg in "${APT_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    [[ $status == ii* ]] || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    say "debian packages: all ${#APT_PACKAGES[@]} installed"
    return
  fi
  ((EUID == 0)) || die "missing debian packages: ${missing[*]} (run this script as root)"
  export DEBIAN_FRONTEND=noninteractive
  local log=${TMPDIR:-/tmp}/monkeysphere-setup-apt.log
  say "debian packages: installing ${missing[*]} (log: $log)"
  if ! { apt-get update -q && apt-get install -y -q --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "apt-get failed; see $log"
  fi
}

# --- 2. npm dependencies -----------------------------------------------------------
# node-gyp must compile against this node's headers, not download them: point it at
# the prefix that holds include/node (Debian/NodeSource packages put them in /usr).
use_local_node_headers() {
  local prefix
  prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  if [[ -z ${npm_config_nodedir:-} && -f $prefix/include/node/node_api.h ]]; then
    export npm_config_nodedir=$prefix
  fi
}

# What node_modules was installed from. A match means there is nothing to do.
deps_fingerprint() {
  {
    node -p 'process.version + " " + process.arch + " " + process.platform'
    cat package.json .npmrc package-lock.json 2>/dev/null
  } | sha256sum | cut -d' ' -f1
}

native_modules_load() {
  node -e 'new (require("better-sqlite3"))(":memory:").prepare("select 1").get()' 2>/dev/null
}

install_npm_packages() {
  local stamp=node_modules/.monkeysphere-setup want
  want=$(deps_fingerprint)
  if [[ -f $stamp && $(cat "$stamp") == "$want" ]] && native_modules_load; then
    say "npm packages: up to date"
    return
  fi
  # node_modules installed by hand (no stamp yet) but complete: adopt it, don't reinstall.
  if [[ -d node_modules && ! -f $stamp ]] && npm ls --all >/dev/null 2>&1 && native_modules_load; then
    say "npm packages: already installed"
    echo "$want" >"$stamp"
    return
  fi
  use_local_node_headers
  # .npmrc sets build-from-source=true: better-sqlite3 is compiled (about 70 s), with
  # no attempt to download a prebuilt binary.
  if [[ -f package-lock.json ]] && npm ci --dry-run --ignore-scripts --no-audit --no-fund >/dev/null 2>&1; then
    say "npm packages: npm ci (compiles better-sqlite3, about a minute)"
    npm ci --no-audit --no-fund >&2
  elif [[ -f package-lock.json ]]; then
    # npm ci refuses a lock file that lacks optional platform packages the registry
    # does not carry (e.g. @biomejs/cli-darwin-arm64@2.6.8 on our mirror). npm install
    # installs the same locked versions; --no-save keeps the lock file untouched.
    say "npm packages: npm ci does not accept package-lock.json here; npm install --no-save (compiles better-sqlite3, about a minute)"
    npm install --no-save --no-audit --no-fund >&2
  else
    say "npm packages: npm install (no package-lock.json)"
    npm install --no-audit --no-fund >&2
  fi
  native_modules_load || die "better-sqlite3 does not load after npm install"
  deps_fingerprint >"$stamp"
}

# --- 3. build ----------------------------------------------------------------------
build() {
  local stamp=dist/.monkeysphere-build
  if [[ -f $stamp ]] && [[ -z $(find src bin scripts/build.ts tsconfig.json tsconfig.build.json package.json package-lock.json -newer "$stamp" -print -quit) ]]; then
    say "build: dist/ up to date"
    return
  fi
  say "build: tsc, then one bundle per command (scripts/build.ts)"
  npm run --silent build >&2
  mkdir -p dist
  touch "$stamp"
}

# --- 4. a root-owned install ------------------------------------------------------
# As root, the commands run from a copy owned by root, never from this checkout: sshd
# runs AuthorizedKeysCommand only when the program and every directory above it are
# root-owned and not group- or world-writable, and a checkout writable by someone else
# would hand root to them. The copy holds package.json, bin/, dist/ and the production
# node_modules; keys-for-user gets a wrapper naming node by its absolute path (sshd gives
# the command PATH=/usr/bin:/bin:/usr/sbin:/sbin and nothing else).
install_root_copy() {
  local prefix=$1 tmp pkg
  tmp=$(mktemp -d "$(dirname "$prefix")/.monkeysphere-install.XXXXXX")
  cp -a package.json bin dist "$tmp/"
  mkdir -p "$tmp/node_modules"
  while IFS= read -r pkg; do
    [[ $pkg == "$REPO" ]] && continue
    mkdir -p "$tmp/$(dirname "${pkg#"$REPO"/}")"
    cp -a "$pkg" "$tmp/${pkg#"$REPO"/}"
  done < <(npm ls --omit=dev --all --parseable 2>/dev/null)
  mkdir -p "$tmp/sbin"
  printf '#!/bin/sh\n# sshd AuthorizedKeysCommand: node by absolute path, no environment needed.\nexec %q %q "$@"\n' \
    "$(readlink -f "$(command -v node)")" "$prefix/bin/monkeysphere-authentication-keys-for-user.js" \
    >"$tmp/sbin/monkeysphere-authentication-keys-for-user"
  chmod 0755 "$tmp/sbin/monkeysphere-authentication-keys-for-user" "$tmp"/bin/*.js
  chown -R root:root "$tmp"
  chmod -R go-w "$tmp"
  chmod 0755 "$tmp"
  rm -rf "$prefix.old"
  if [[ -e $prefix ]]; then mv "$prefix" "$prefix.old"; fi
  mv "$tmp" "$prefix"
  rm -rf "$prefix.old"
}

# The wrapper runs node as root and as monkeysphere: node and every directory above it
# should be root-owned and not group- or world-writable too (a node under someone's
# home, from nvm say, would hand them both accounts). Warned about, not refused.
warn_unsafe_node() {
  local p
  p=$(readlink -f "$(command -v node)")
  while :; do
    if [[ $(stat -c %u "$p") != 0 ]] || (($(stat -c '%#a' "$p") & 022)); then
      say "install: warning: $p (on the way to node) is not root-owned or is writable by others; sshd's AuthorizedKeysCommand would run it; install node as root (e.g. the Debian or NodeSource package)"
      return
    fi
    [[ $p == / ]] && return
    p=$(dirname "$p")
  done
}

install_system() {
  local prefix=${MS_PREFIX:-/usr/local/lib/monkeysphere}
  if [[ -f $prefix/.stamp && -z $(find bin dist package.json node_modules/.monkeysphere-setup -newer "$prefix/.stamp" -print -quit) ]]; then
    say "install: $prefix up to date"
  else
    mkdir -p "$(dirname "$prefix")"
    install_root_copy "$prefix"
    touch "$prefix/.stamp"
    say "install: root-owned copy in $prefix"
  fi
  warn_unsafe_node
  # The account sshd runs AuthorizedKeysCommand as (AuthorizedKeysCommandUser monkeysphere):
  # setup gives its group read access to the store.
  if ! getent passwd monkeysphere >/dev/null; then
    adduser --system --group --no-create-home --home /var/lib/monkeysphere monkeysphere >/dev/null 2>&1 \
      || useradd --system --user-group --no-create-home --home-dir /var/lib/monkeysphere --shell /usr/sbin/nologin monkeysphere
    say "install: created the system user monkeysphere"
  fi
}

# --- 5. commands on PATH -----------------------------------------------------------
# Symlinks <bin dir>/<command> -> <source>/bin/<command>.js for every "bin" entry in
# package.json, where <source> is the root-owned copy (as root) or this checkout.
# Re-running just re-points them; a file that is not a symlink is never overwritten;
# links into this checkout whose shim is gone are removed.
link_commands() {
  local dir=${MS_BIN_DIR:-}
  if [[ -z $dir ]]; then
    if ((EUID == 0)); then dir=/usr/local/bin; else dir=$HOME/.local/bin; fi
  fi
  if [[ $dir == none ]]; then
    say "commands: not linked (MS_BIN_DIR=none)"
    return
  fi
  mkdir -p "$dir"
  local source=$REPO
  if ((EUID == 0)); then
    install_system
    source=${MS_PREFIX:-/usr/local/lib/monkeysphere}
  fi
  local name target link n=0
  while IFS=$'\t' read -r name target; do
    link=$dir/$name
    if [[ -e $link && ! -L $link ]]; then
      say "commands: warning: $link exists and is not a symlink; left alone"
      continue
    fi
    chmod +x "$REPO/$target"
    if [[ $source != "$REPO" && $name == monkeysphere-authentication-keys-for-user ]]; then
      ln -sfn "$source/sbin/$name" "$link"
    else
      ln -sfn "$source/$target" "$link"
    fi
    n=$((n + 1))
  done < <(node -e 'for (const [k, v] of Object.entries(require("./package.json").bin ?? {})) console.log(`${k}\t${v}`)')
  for link in "$dir"/*; do
    if [[ -L $link && ! -e $link && $(readlink "$link") == "$REPO"/bin/* ]]; then rm -f "$link"; fi
  done
  say "commands: $n linked into $dir (from $source)"
  case ":$PATH:" in *":$dir:"*) ;; *) say "commands: note: $dir is not on PATH" ;; esac
}

main() {
  command -v node >/dev/null || die "node is not installed (Node 20 is required)"
  [[ $(node -p 'process.versions.node.split(".")[0]') == 20 ]] || say "warning: node $(node -v) found; the project targets Node 20"

  if [[ ${MS_SKIP_APT:-} == 1 ]]; then say "debian packages: skipped (MS_SKIP_APT=1)"; else install_apt_packages; fi
  install_npm_packages
  build
  link_commands
  say "done"
}

# Sourced (by tests), it only defines the steps.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
