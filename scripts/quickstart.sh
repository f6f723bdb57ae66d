#!/usr/bin/env bash
# Build heatmap, start a model server and heatmapd, and run one benchmark job.
#
# Usage: scripts/quickstart.sh [options] [-- extra heatmapctl submit options]
#
# Options:
#   --url URL          base URL of a running model server; skips provisioning
#   --backend B        API of that server: openai or ollama
#                      (default: ollama for a detected Ollama, else openai)
#   --model M          model to benchmark; repeat for more (default: the two
#                      Gemma 3 270M models of the provisioned llama-server, or
#                      every model that a detected Ollama lists)
#   --temps LIST       comma-separated temperatures (default: 0,0.5,1,1.5)
#   --questions A..B   prompts to use, counting from 1 (default: all)
#   --no-ollama        do not probe for Ollama; provision llama-server
#   --workspace DIR    heatmapd root (default: $HEATMAP_WORKSPACE, else
#                      ./quickstart-workspace)
#   -h, --help         show this help
#
# Without --url or --no-ollama, the script probes Ollama at
# ${OLLAMA_HOST:-http://127.0.0.1:11434} (only when that is a loopback
# address) and uses it if it responds. Otherwise it runs scripts/provision.sh
# and starts llama-server --models-dir on a free port of 127.0.0.1.
# Everything it starts is stopped when it exits.
#
# Environment: HEATMAP_CACHE (see scripts/provision.sh), HEATMAP_WORKSPACE,
# OLLAMA_HOST, CARGO_TARGET_DIR.
#
# Exit status: 0 when the job finished, else non-zero (the status of
# heatmapctl submit when the job failed).

set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd)"
readonly DEFAULT_TEMPS="0,0.5,1,1.5"
readonly TEMPLATE_NAME="fewshot-qa.txt"

log() {
    printf '[quickstart] %s\n' "$*" >&2
}

die() {
    printf '[quickstart] error: %s\n' "$*" >&2
    exit 1
}

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
}

server_url=""
backend=""
models=()
temps="$DEFAULT_TEMPS"
questions=""
workspace="${HEATMAP_WORKSPACE:-./quickstart-workspace}"
probe_ollama=true
extra_submit_args=()

parse_args() {
    while (($# > 0)); do
        case "$1" in
            --url | --backend | --model | --temps | --questions | --workspace)
                (($# >= 2)) || die "$1 requires a value: run $0 --help"
                ;;
        esac
        case "$1" in
            --url) server_url="${2%/}" ;;
            --backend)
                case "$2" in
                    openai | ollama) backend="$2" ;;
                    *) die "invalid --backend '$2': use openai or ollama" ;;
                esac
                ;;
            --model) models+=("$2") ;;
            --temps) temps="$2" ;;
            --questions) questions="$2" ;;
            --workspace) workspace="$2" ;;
            --no-ollama)
                probe_ollama=false
                shift
                continue
                ;;
            -h | --help)
                usage
                exit 0
                ;;
            --)
                shift
                extra_submit_args=("$@")
                return
                ;;
            *) die "unknown argument '$1': run $0 --help" ;;
        esac
        shift 2
    done
}

# State for cleanup: the processes this script started.
llama_server_pid=""
heatmapd_pid=""
child_pid=""
heatmapctl=""
socket_path=""
started_at="$(date +%s)"

# Stop heatmapd first, so no request goes to a server that is already gone,
# then llama-server. Both get a grace period before SIGKILL.
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [[ -n "$child_pid" ]] && kill -0 "$child_pid" 2>/dev/null; then
        kill -TERM "$child_pid" 2>/dev/null || true
        wait "$child_pid" 2>/dev/null || true
    fi
    if [[ -n "$heatmapd_pid" ]] && kill -0 "$heatmapd_pid" 2>/dev/null; then
        log "stopping heatmapd (pid $heatmapd_pid)"
        timeout 15 "$heatmapctl" --socket "$socket_path" shutdown >/dev/null 2>&1 ||
            kill -TERM "$heatmapd_pid" 2>/dev/null || true
        wait_for_exit "$heatmapd_pid" 30 || {
            log "heatmapd did not exit within 30 s, sending SIGKILL"
            kill -KILL "$heatmapd_pid" 2>/dev/null || true
        }
        wait "$heatmapd_pid" 2>/dev/null || true
    fi
    if [[ -n "$llama_server_pid" ]] && kill -0 "$llama_server_pid" 2>/dev/null; then
        log "stopping llama-server (pid $llama_server_pid)"
        kill -TERM "$llama_server_pid" 2>/dev/null || true
        wait_for_exit "$llama_server_pid" 15 || {
            log "llama-server did not exit within 15 s, sending SIGKILL"
            kill -KILL "$llama_server_pid" 2>/dev/null || true
        }
        wait "$llama_server_pid" 2>/dev/null || true
    fi
    log "total time: $(($(date +%s) - started_at)) s"
    exit "$status"
}

# Run a command in the background and wait for it, returning its status.
# Bash runs a signal trap only after a foreground command ends, so a long
# foreground command would delay the cleanup on SIGINT or SIGTERM until it
# finished. `wait` returns at once when a trapped signal arrives.
run_child() {
    "$@" &
    child_pid=$!
    local status=0
    wait "$child_pid" || status=$?
    child_pid=""
    return "$status"
}

# Wait up to SECONDS for PID to exit. Returns non-zero if it is still running.
wait_for_exit() {
    local pid="$1" seconds="$2" i
    for ((i = 0; i < seconds * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

apt_install() {
    [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1 ||
        die "missing $*: install it with the system package manager"
    log "installing Debian packages: $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 ||
        die "apt-get install $* failed: see the apt-get output above"
}

# Build in a subshell that becomes cargo, so run_child can stop it by pid.
cargo_build_release() {
    cd "$REPO_DIR" && exec cargo build --release -p heatmapd -p heatmapctl
}

build_binaries() {
    command -v cargo >/dev/null 2>&1 ||
        die "cargo not found: install the Rust toolchain (https://rustup.rs) and run again"
    log "building heatmapd and heatmapctl (cargo build --release)"
    local started
    started="$(date +%s)"
    run_child cargo_build_release ||
        die "cargo build --release -p heatmapd -p heatmapctl failed: see the compiler output above"
    log "build done in $(($(date +%s) - started)) s"
    local target_dir="${CARGO_TARGET_DIR:-$REPO_DIR/target}"
    [[ "$target_dir" == /* ]] || target_dir="$REPO_DIR/$target_dir"
    heatmapd="$target_dir/release/heatmapd"
    heatmapctl="$target_dir/release/heatmapctl"
    [[ -x "$heatmapd" && -x "$heatmapctl" ]] ||
        die "cargo build finished, but $heatmapd or $heatmapctl is missing"
}

# Print the base URL of OLLAMA_HOST when it names a loopback address, with
# http:// and the default port added where they are missing. Prints nothing
# for any other host, which is never probed.
ollama_loopback_url() {
    local url="${OLLAMA_HOST:-http://127.0.0.1:11434}"
    url="${url%/}"
    [[ "$url" == *://* ]] || url="http://$url"
    local authority="${url#*://}"
    authority="${authority%%/*}"
    local host port
    if [[ "$authority" == \[* ]]; then
        host="${authority%%]*}]"
        port="${authority#"$host"}"
        port="${port#:}"
    else
        host="${authority%%:*}"
        port=""
        [[ "$authority" == *:* ]] && port="${authority#*:}"
    fi
    [[ "$host" =~ ^(localhost|127\.[0-9]+\.[0-9]+\.[0-9]+|\[::1\])$ ]] || return 0
    printf '%s://%s:%s\n' "${url%%://*}" "$host" "${port:-11434}"
}

# Fill `models` from Ollama's /api/tags when no --model was given.
list_ollama_models() {
    local tags
    tags="$(curl -fsS --max-time 5 "$server_url/api/tags")" ||
        die "GET $server_url/api/tags failed: check that Ollama is running"
    mapfile -t models < <(printf '%s' "$tags" | python3 -c '
import json, sys
for model in json.load(sys.stdin).get("models", []):
    print(model["name"])
')
    ((${#models[@]} > 0)) ||
        die "Ollama at $server_url lists no models: pull one (ollama pull NAME) or pass --model"
}

# Print a TCP port that is free on 127.0.0.1 at the time of the call.
free_port() {
    python3 -c '
import socket
with socket.socket() as sock:
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1])
'
}

start_llama_server() {
    local key value
    local llama_server="" models_dir="" model_names=""
    run_child "$SCRIPT_DIR/provision.sh" >"$workspace/provision.env" ||
        die "provisioning failed: see the messages of scripts/provision.sh above"
    while IFS='=' read -r key value; do
        case "$key" in
            LLAMA_SERVER) llama_server="$value" ;;
            MODELS_DIR) models_dir="$value" ;;
            MODEL_NAMES) model_names="$value" ;;
        esac
    done <"$workspace/provision.env"
    [[ -x "$llama_server" && -d "$models_dir" && -n "$model_names" ]] ||
        die "scripts/provision.sh printed no LLAMA_SERVER, MODELS_DIR or MODEL_NAMES"
    if ((${#models[@]} == 0)); then
        IFS=',' read -r -a models <<<"$model_names"
    fi

    # Each model runs in its own llama-server child process. A crunch-mode
    # job sends to all models at once, so the cores are split between them:
    # on 2 cores, two models with 2 threads each answered 64 prompts each in
    # 413 s, against 73 s with 1 thread each. Each model gets 2 slots, so it
    # serves two requests at once and queues the rest. The context of -c is
    # split between the slots, 1024 tokens each, which fits the few-shot
    # template and an answer of --max-tokens 24 with room to spare.
    local model_count="${#models[@]}" cores threads port
    cores="$(nproc 2>/dev/null || echo 2)"
    threads=$((cores / model_count))
    ((threads >= 1)) || threads=1
    port="$(free_port)"
    server_url="http://127.0.0.1:$port"
    backend="openai"
    local command=("$llama_server" --host 127.0.0.1 --port "$port"
        --models-dir "$models_dir" --models-max "$model_count"
        -c 2048 --parallel 2 --threads "$threads")
    log "starting ${command[*]} (log: $workspace/llama-server.log)"
    "${command[@]}" >"$workspace/llama-server.log" 2>&1 &
    llama_server_pid=$!

    local i
    for ((i = 0; i < 600; i++)); do
        kill -0 "$llama_server_pid" 2>/dev/null ||
            die "llama-server exited during startup: see $workspace/llama-server.log"
        curl -fsS --max-time 2 "$server_url/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    ((i < 600)) || die "llama-server did not report healthy at $server_url/health within 60 s: see $workspace/llama-server.log"

    # Load every model with one short completion, so a model that cannot be
    # loaded fails here with the server log at hand, not inside the job.
    local model
    for model in "${models[@]}"; do
        log "loading $model"
        curl -fsS --max-time 120 "$server_url/v1/completions" \
            -H 'Content-Type: application/json' \
            -d "{\"model\": \"$model\", \"prompt\": \"Q: What is 1 + 1?\\nA:\", \"max_tokens\": 1, \"temperature\": 0}" \
            >/dev/null ||
            die "a test completion with model $model at $server_url failed: see $workspace/llama-server.log"
    done
}

select_server() {
    if [[ -n "$server_url" ]]; then
        backend="${backend:-openai}"
        log "using the $backend server at $server_url"
        ((${#models[@]} > 0)) || die "--url needs at least one --model"
        return
    fi

    local ollama_url
    ollama_url="$(ollama_loopback_url)"
    if [[ "$probe_ollama" == false ]]; then
        log "--no-ollama: not probing for Ollama"
    elif [[ -z "$ollama_url" ]]; then
        log "OLLAMA_HOST=${OLLAMA_HOST:-} is not a loopback address, so it is not probed"
    elif curl -fsS --max-time 2 "$ollama_url/api/tags" >/dev/null 2>&1; then
        server_url="$ollama_url"
        backend="${backend:-ollama}"
        log "Ollama responds at $server_url, using it instead of provisioning llama-server"
        ((${#models[@]} > 0)) || list_ollama_models
        return
    fi

    [[ -z "$backend" || "$backend" == openai ]] ||
        die "--backend $backend needs --url: the provisioned llama-server speaks the openai API"
    start_llama_server
}

prepare_workspace() {
    mkdir -p "$workspace" || die "cannot create the workspace $workspace"
    workspace="$(cd "$workspace" && pwd)"
    socket_path="$workspace/heatmapd.sock"
    # On Linux, sun_path in a Unix socket address is 108 bytes including the
    # terminating NUL (unix(7)), so a longer path cannot be bound.
    ((${#socket_path} <= 107)) ||
        die "the socket path $socket_path is longer than 107 bytes: choose a shorter --workspace"
    cp "$REPO_DIR/prompts.csv" "$workspace/prompts.csv"
    mkdir -p "$workspace/templates"
    cp -R "$REPO_DIR/templates/." "$workspace/templates/"
}

start_heatmapd() {
    log "starting heatmapd --root $workspace (log: $workspace/heatmapd.log)"
    # A runtime folder of its own keeps this daemon apart from a heatmapd
    # service the user may already run; each holds its own PID lock.
    mkdir -p "$workspace/run"
    XDG_RUNTIME_DIR="$workspace/run" TMPDIR="$workspace/run" \
        "$heatmapd" --root "$workspace" --socket "$socket_path" >>"$workspace/heatmapd.log" 2>&1 &
    heatmapd_pid=$!
    local i
    for ((i = 0; i < 300; i++)); do
        kill -0 "$heatmapd_pid" 2>/dev/null ||
            die "heatmapd exited during startup: see $workspace/heatmapd.log"
        "$heatmapctl" --socket "$socket_path" status >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "heatmapctl status did not succeed within 30 s of starting heatmapd: see $workspace/heatmapd.log"
}

submit_job() {
    local command=("$heatmapctl" --socket "$socket_path" submit
        --url "$server_url" --backend "$backend")
    local model
    for model in "${models[@]}"; do
        command+=(--model "$model")
    done
    command+=(--temps "$temps" --mode completion
        --template "$workspace/templates/$TEMPLATE_NAME"
        --stop '\n' --max-tokens 24 --crunch --grade exact --wait)
    [[ -z "$questions" ]] || command+=(--questions "$questions")
    command+=("${extra_submit_args[@]}")
    log "submitting: ${command[*]}"
    local status=0
    run_child "${command[@]}" || status=$?
    if ((status != 0)); then
        log "error: the job did not finish (heatmapctl submit exited with $status): see $workspace/heatmapd.log"
        return "$status"
    fi
    analyse_job
    log "results: $workspace/output/Summaries/ (pictures in $workspace/output/graphs/)"
}

# Writes the derivative family of the job's snapshot and draws it in the terminal.
analyse_job() {
    local index="$workspace/output/Summaries/csv_index.json" id
    [[ -f "$index" ]] || die "the job wrote no $index: see $workspace/heatmapd.log"
    id="$(python3 -c '
import json, sys
entries = json.load(open(sys.argv[1], encoding="utf-8"))
print(max(entries.values(), key=lambda e: e["created_at"])["id"])
' "$index")" || die "cannot read the newest heatmap id from $index"
    log "derivative, percent change and trends of heatmap $id"
    run_child "$heatmapctl" --socket "$socket_path" derive "$id" ||
        die "heatmapctl derive $id failed: see $workspace/heatmapd.log"
    run_child "$heatmapctl" --socket "$socket_path" show "$id" ||
        die "heatmapctl show $id failed: see $workspace/heatmapd.log"
}

main() {
    parse_args "$@"
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    command -v python3 >/dev/null 2>&1 || die "python3 not found: install Python 3.9 or newer"
    command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates
    [[ -f "$REPO_DIR/prompts.csv" && -f "$REPO_DIR/templates/$TEMPLATE_NAME" ]] ||
        die "$REPO_DIR/prompts.csv or templates/$TEMPLATE_NAME is missing: run this script from a complete checkout"

    build_binaries
    prepare_workspace
    select_server
    start_heatmapd
    submit_job
}

main "$@"
