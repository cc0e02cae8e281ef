#!/bin/sh
# Builds the tailor container image from this checkout with buildah (Debian: apt-get install
# buildah) or podman, and tags it localhost/tailor:<workspace version>, the image
# edge-deploy/k8s/daemonset.yaml runs. Prints the image name on success.
#
#   edge-deploy/container/build.sh                  # buildah if installed, else podman
#   TAILOR_IMAGE=registry.example.com/tailor/tailor:0.1.0 edge-deploy/container/build.sh
#
# Environment:
#   TAILOR_IMAGE          the tag (default localhost/tailor:<version from Cargo.toml>)
#   TAILOR_RUST_IMAGE     builder base (default docker.io/library/rust:1.95-slim-bookworm)
#   TAILOR_RUNTIME_IMAGE  runtime base (default gcr.io/distroless/cc-debian12:nonroot)
#   TAILOR_BUILDER        buildah or podman (default: whichever is installed, buildah first)
#   BUILDAH_ISOLATION     default chroot: works without user namespaces (in CI, in containers)
#   STORAGE_DRIVER        default vfs: works without overlayfs or fuse-overlayfs (slower, more
#                         disk); set overlay where it is available
#
# The base images come from a container registry. Where none is reachable, the script stops
# before building, naming the image it could not pull: pull (or `podman load`) them from a
# machine that can, or point TAILOR_RUST_IMAGE / TAILOR_RUNTIME_IMAGE at a mirror.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
[ -n "$version" ] || { echo "build.sh: no version in $root/Cargo.toml" >&2; exit 1; }
image=${TAILOR_IMAGE:-localhost/tailor:$version}
rust_image=${TAILOR_RUST_IMAGE:-docker.io/library/rust:1.95-slim-bookworm}
runtime_image=${TAILOR_RUNTIME_IMAGE:-gcr.io/distroless/cc-debian12:nonroot}
export BUILDAH_ISOLATION="${BUILDAH_ISOLATION:-chroot}"
export STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"

builder=${TAILOR_BUILDER:-}
if [ -z "$builder" ]; then
    if command -v buildah >/dev/null 2>&1; then
        builder=buildah
    elif command -v podman >/dev/null 2>&1; then
        builder=podman
    else
        echo "build.sh: neither buildah nor podman is installed (Debian: apt-get install buildah)" >&2
        exit 1
    fi
fi
case "$builder" in
    buildah) exists="buildah inspect --type image" ;;
    podman) exists="podman image inspect" ;;
    *) echo "build.sh: TAILOR_BUILDER must be buildah or podman, not $builder" >&2; exit 1 ;;
esac

# Both base images, present or pulled, before anything is built.
for base in "$rust_image" "$runtime_image"; do
    if $exists "$base" >/dev/null 2>&1; then
        continue
    fi
    if ! log=$("$builder" pull "$base" 2>&1); then
        printf '%s\n' "$log" >&2
        cat >&2 <<MSG

build.sh: cannot pull the base image $base, so the image cannot be built here.
  Where the registry is reachable: $builder pull $base, then save it
  ($builder push $base oci-archive:base.tar, or podman save); here: $builder pull
  oci-archive:base.tar and tag it $base. Or set TAILOR_RUST_IMAGE / TAILOR_RUNTIME_IMAGE
  to a mirror this machine reaches.
MSG
        exit 2
    fi
done

"$builder" build \
    --isolation "$BUILDAH_ISOLATION" \
    --file "$here/Dockerfile" \
    --ignorefile "$here/containerignore" \
    --build-arg "RUST_IMAGE=$rust_image" \
    --build-arg "RUNTIME_IMAGE=$runtime_image" \
    --tag "$image" \
    "$root" >&2
echo "$image"
