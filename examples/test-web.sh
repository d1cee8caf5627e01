#!/bin/sh
# A test run against examples/web.json, on whatever port it was given:
#   rmanager -f examples/web.json -- examples/test-web.sh
# rmanager sets WEB_PORT (and every other port of the file) in this script's environment.
set -eu
exec python3 -c '
import os, urllib.request
port = os.environ["WEB_PORT"]
status = urllib.request.urlopen(f"http://127.0.0.1:{port}/").status
print(f"web answered {status} on port {port}")
assert status == 200
'
