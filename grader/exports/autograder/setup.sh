#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu 22.04 by
# default; 24.04 works too): bubblewrap to wall in student code, a Python of 3.11 or newer,
# and grade with the CPU build of torch (pinned by grade/constraints.txt) in a venv.
# Written by `grade gradescope`; $GRADE_AUTOGRADER_ROOT stands in for /autograder.
set -euo pipefail

root="${GRADE_AUTOGRADER_ROOT:-/autograder}"
source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$root/grade-venv"
export DEBIAN_FRONTEND=noninteractive

apt-get update -qq
apt-get install -y -qq bubblewrap ||
  echo "note: bubblewrap not installed; student code runs less isolated (see grade's docs/security.md)"

python=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" >/dev/null &&
    "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    python="$candidate"
    break
  fi
done
if [ -z "$python" ]; then # Ubuntu 22.04's python3 is 3.10; its universe has 3.11
  apt-get install -y -qq python3.11 python3.11-venv
  python=python3.11
fi
if ! "$python" -m venv "$venv"; then # Debian and Ubuntu ship venv apart
  apt-get install -y -qq "$(basename "$python")-venv"
  "$python" -m venv "$venv"
fi

"$venv/bin/python" -m pip install --quiet --upgrade pip
# torch from PyTorch's CPU index: the same version from PyPI is a multi-GB CUDA build.
"$venv/bin/python" -m pip install --quiet -c "$source_dir/grade/constraints.txt" \
  --extra-index-url https://download.pytorch.org/whl/cpu "$source_dir/grade"

# The image is rejected now, not at the first submission, if the assignment is broken.
"$venv/bin/grade" assignments "$source_dir/assignment.toml"
