#!/usr/bin/env bash
# Idempotent project setup: Debian packages, the Python venv, and the pinned livekit-server.
# Everything the stack or the tests need is installed here, so a clean clone works.
set -euo pipefail
cd "$(dirname "$0")/.."

LIVEKIT_VERSION="v1.13.5"
TOOLS="$PWD/.tools"
APT_PACKAGES=(postgresql redis-server chromium chromium-driver prometheus ffmpeg iproute2 sqlite3 jq openssl libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core poppler-utils
  fonts-noto-core openjdk-17-jre-headless maven libheif-examples  # statements in Urdu, veraPDF; HEIC test files
  systemd-container debootstrap nftables haproxy)  # the last four: tests/infra (Ansible on nspawn hosts)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python: the hash-checked wheels in requirements.lock (`make lock` refreshes it), then
# the project itself without dependencies, built by the locked setuptools so nothing unpinned
# is fetched. Redone only when the lock or pyproject.toml changed since the last install.
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.evr-installed
if [ ! -f "$stamp" ] || [ requirements.lock -nt "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q --require-hashes --only-binary :all: -r requirements.lock
  .venv/bin/pip install -q --no-deps --no-build-isolation -e .
  touch "$stamp"
fi

# The real SFU, built from its Go module at a pinned release into a project-local directory.
if [ ! -x "$TOOLS/bin/livekit-server" ] || [ "$(cat "$TOOLS/livekit-version" 2>/dev/null)" != "$LIVEKIT_VERSION" ]; then
  echo "setup: building livekit-server $LIVEKIT_VERSION (first run only, takes a few minutes)"
  mkdir -p "$TOOLS/bin"
  GOBIN="$TOOLS/gobin" go install "github.com/livekit/livekit-server/cmd/server@$LIVEKIT_VERSION"
  mv "$TOOLS/gobin/server" "$TOOLS/bin/livekit-server"
  echo "$LIVEKIT_VERSION" > "$TOOLS/livekit-version"
fi

# MinIO, for the S3 Object Lock evidence store's tests. The module proxy cannot resolve its
# RELEASE.* tags (not semver), so the newest commit is pinned by pseudo-version; its go.mod
# has no replace directive and builds with Go 1.26 (about 8 minutes on 2 cores).
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
if [ ! -x "$TOOLS/bin/minio" ] || [ "$(cat "$TOOLS/minio-version" 2>/dev/null)" != "$MINIO_VERSION" ]; then
  echo "setup: building minio $MINIO_VERSION (first run only, takes several minutes)"
  mkdir -p "$TOOLS/bin"
  GOBIN="$TOOLS/gobin" go install "github.com/minio/minio@$MINIO_VERSION"
  mv "$TOOLS/gobin/minio" "$TOOLS/bin/minio"
  echo "$MINIO_VERSION" > "$TOOLS/minio-version"
fi

# veraPDF, the PDF/A validator the statement tests check renderings with: its released,
# self-contained greenfield apps jar from Maven Central (through mvn), pinned by SHA-256.
VERAPDF_VERSION="1.28.2"
VERAPDF_SHA256="687d4d8bcfec48c9f7e931cf78ed061f1eeccfba55d4cdc000ba9b4d8aa46ce6"
VERAPDF_JAR="$TOOLS/verapdf/greenfield-apps-$VERAPDF_VERSION.jar"
if [ ! -f "$VERAPDF_JAR" ]; then
  echo "setup: fetching veraPDF $VERAPDF_VERSION"
  mvn -B -q -Dmaven.repo.local="$TOOLS/m2" dependency:copy -Dtransitive=false \
    -Dartifact="org.verapdf.apps:greenfield-apps:$VERAPDF_VERSION" -DoutputDirectory="$TOOLS/verapdf"
fi
echo "$VERAPDF_SHA256  $VERAPDF_JAR" | sha256sum --check --quiet

# The load generator's media agent (loadtests/mediaagent: Go, server-sdk-go) and the media it
# publishes (pre-encoded VP8/Opus, made once by ffmpeg). Rebuilt when its sources change.
agent_src=loadtests/mediaagent
agent_stamp="$(cat "$agent_src"/go.mod "$agent_src"/go.sum "$agent_src"/*.go | sha256sum | cut -c1-16)"
if [ ! -x "$TOOLS/bin/evr-media-agent" ] || [ "$(cat "$TOOLS/media-agent-version" 2>/dev/null)" != "$agent_stamp" ]; then
  echo "setup: building the Go media agent (loadtests/mediaagent)"
  mkdir -p "$TOOLS/bin"
  (cd "$agent_src" && go build -trimpath -o "$TOOLS/bin/evr-media-agent" .)
  echo "$agent_stamp" > "$TOOLS/media-agent-version"
fi
media_stamp="$(sha256sum "$agent_src/make_media.sh" | cut -c1-16)"
if [ "$(cat "$TOOLS/media/version" 2>/dev/null)" != "$media_stamp" ]; then
  echo "setup: encoding the load generator's media (.tools/media)"
  rm -rf "$TOOLS/media"
  "$agent_src/make_media.sh" "$TOOLS/media"
  echo "$media_stamp" > "$TOOLS/media/version"
fi

if [ -f web/package.json ]; then
  if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules ]; then
    (cd web && npm ci --no-audit --no-fund --silent)
  fi
  (cd web && npm run --silent build)
fi

# The runtime wheels the Ansible roles install on hosts (infra/ansible/build_artifacts.py);
# downloaded here, so the deploy tests build their artifacts offline.
.venv/bin/python infra/ansible/build_artifacts.py --download-only
