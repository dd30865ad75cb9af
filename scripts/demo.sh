#!/usr/bin/env bash
# make demo: create or complete the demo database, print the logins, start the server.
# Usage: scripts/demo.sh BINARY DB ADDR
set -euo pipefail
bin=$1 db=$2 addr=$3
mkdir -p "$(dirname "$db")"
"$bin" demo --db "$db"
echo
echo "  URL:  http://$addr/   (the web UI: log in with any login above; API: http://$addr/api/v1/)"
echo "  Stop with Ctrl-C. The data stays in $db; run 'make demo' again to restart."
echo
exec "$bin" serve --db "$db" --listen "$addr" --access-log "$(dirname "$db")/access.log"
