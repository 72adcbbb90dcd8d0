#!/usr/bin/env bash
# Check (and, as root with apt-get, install) the system tools cosmo-kg needs:
# Java 17+ and Maven for the local Neo4j, redis-server for the API cache tests, Chromium and
# its driver for the browser tests of the GraphiQL and explorer pages (Debian's packages:
# Selenium then never downloads a browser or driver).
set -euo pipefail

missing=()
java_ok() { command -v java >/dev/null && java -version 2>&1 | grep -Eq 'version "(1[7-9]|[2-9][0-9])'; }
java_ok || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
    echo "Error: missing system packages: ${missing[*]}" >&2
    echo "Hint: install them (e.g. sudo apt-get install ${missing[*]}) and run again" >&2
    exit 1
fi
