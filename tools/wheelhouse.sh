#!/bin/sh
# Prepare an offline classroom lab: put a wheel of everything `make lab` installs into one folder
# (default wheelhouse/), then print the commands that install it on a machine with no network.
#
#   sh tools/wheelhouse.sh [--dry-run] [DIR]
#
# Run it once on a machine with network and the classroom's OS, CPU architecture and Python
# version: the wheels are made for this interpreter. PyTorch is the CPU build from PyTorch's own
# index, as tools/install_torch.sh takes it (TORCH names the release, TORCH_INDEX another index,
# "" for the plain one). llama-cpp-python has no wheel on the package index, so it is compiled here
# once (minutes), with -DGGML_NATIVE=OFF so that it runs on any x86-64 CPU with AVX2, not only on
# this one; CMAKE_ARGS adds to or overrides those flags. --dry-run prints the steps and runs none.
set -eu

usage="usage: sh tools/wheelhouse.sh [--dry-run] [DIR]"
dry_run=0
dir=wheelhouse
while [ $# -gt 0 ]; do
    case $1 in
        --dry-run) dry_run=1 ;;
        -h|--help) echo "$usage"; exit 0 ;;
        -*) echo "tools/wheelhouse.sh: unknown option $1 ($usage)" >&2; exit 2 ;;
        *) dir=$1 ;;
    esac
    shift
done

cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
torch=${TORCH:-torch==2.13.0}
if [ -z "${TORCH_INDEX+set}" ]; then TORCH_INDEX=https://download.pytorch.org/whl/cpu; fi
cmake_args="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF ${CMAKE_ARGS:-}"

fail() {
    echo "tools/wheelhouse.sh: $*" >&2
    exit 1
}

# step DESCRIPTION COMMAND...: run COMMAND (or only print it with --dry-run); one line if it fails.
step() {
    description=$1
    shift
    echo "==> $description"
    if [ "$dry_run" = 1 ]; then
        echo "    $*"
        return 0
    fi
    "$@" || fail "failed while $description (pip's message above)"
}

command -v "$python" >/dev/null 2>&1 || fail "no $python: set PYTHON to a Python 3.11 interpreter"
target=$("$python" -c 'import platform, sys; print(f"Python {sys.version_info[0]}.{sys.version_info[1]} on {platform.system()} {platform.machine()}")') \
    || fail "$python does not run"
echo "Wheels for $target, into $dir/"

# A throwaway environment gives a current pip whatever the system's pip is (or whether it may install).
if [ "$dry_run" = 1 ]; then
    pip="TMP/bin/pip"
else
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    "$python" -m venv "$tmp" || fail "$python -m venv failed (on Debian and Ubuntu: apt-get install python3-venv)"
    pip="$tmp/bin/pip"
    "$pip" install --quiet --upgrade pip || fail "could not upgrade pip in a fresh environment (no network?)"
    mkdir -p "$dir"
fi

step "pip and the build backend the editable install of solar-lab needs" \
    "$pip" download --dest "$dir" pip "setuptools>=68" wheel
if [ -n "$TORCH_INDEX" ]; then
    step "downloading $torch from $TORCH_INDEX (set TORCH_INDEX= for the plain index)" \
        "$pip" download --no-deps --dest "$dir" --index-url "$TORCH_INDEX" "$torch"
else
    step "downloading $torch from the plain index" "$pip" download --no-deps --dest "$dir" "$torch"
fi
# Built on its own and without pip's cache, so that no wheel compiled earlier with other flags is reused.
step "compiling llama-cpp-python (about 4 minutes on 2 cores)" \
    env CMAKE_ARGS="$cmake_args" "$pip" wheel --no-deps --no-cache-dir --no-binary llama-cpp-python \
    --wheel-dir "$dir" llama-cpp-python
if [ "$dry_run" = 1 ]; then
    llama="llama-cpp-python==VERSION"
else
    llama=$(ls "$dir"/llama_cpp_python-*.whl 2>/dev/null | sed -n 's|.*/llama_cpp_python-\([^-]*\)-.*|llama-cpp-python==\1|p' | sort -V | tail -n 1)
    [ -n "$llama" ] || fail "no llama-cpp-python wheel in $dir after the build"
fi
# The wheels already in DIR satisfy torch and llama-cpp-python; everything else comes from the index.
step "every other package of solar-lab[dev], as wheels (sdists are built once here)" \
    "$pip" wheel --wheel-dir "$dir" --find-links "$dir" "$torch" "$llama" ".[dev]"
# solar-lab itself is installed from the checkout (editable), not from a wheel of today's code.
if [ "$dry_run" = 0 ]; then
    rm -f "$dir"/solar_lab-*.whl
    echo "$(ls "$dir" | wc -l) files, $(du -sh "$dir" | cut -f1), in $dir/"
fi

[ "$dry_run" = 0 ] || echo "(dry run: nothing was downloaded or built)"
cat <<EOF

On each classroom machine ($target), in a copy of this repository that holds $dir/,
install with no network:

    $python -m venv .venv && .venv/bin/pip install --no-index --find-links $dir --upgrade pip && .venv/bin/pip install --no-index --find-links $dir "$torch" -e ".[dev]" && touch .venv/.installed

(.venv/.installed tells make that .venv is complete, so \`make lab\` and \`make test\` use it as it is.)
Then run the notebooks with HF_HUB_OFFLINE=1.
EOF
