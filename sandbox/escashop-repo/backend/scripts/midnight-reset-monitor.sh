#!/bin/sh
# Watch the midnight queue reset by hand (23:45-00:05 Asia/Manila): what opsverify now does each night.
set -eu
CONTAINER="${CONTAINER:-escashop-backend-prod}"
docker logs --since 20m -f "$CONTAINER" 2>&1 | grep -E "(reset|midnight|scheduler)"
