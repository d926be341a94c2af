#!/usr/bin/env bash
# Installs what the test suite needs on a Debian machine, only when missing:
# Dovecot (IMAP integration tests), Postfix's smtp-source/smtp-sink (load
# benchmarks), swaks (SMTP black-box tests), Chromium (browser tests).
# No package's service is started.
set -euo pipefail

need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
[ -x /usr/sbin/smtp-source ] || need+=(postfix)
command -v swaks >/dev/null 2>&1 || need+=(swaks libnet-ssleay-perl)
command -v chromium >/dev/null 2>&1 || need+=(chromium chromium-driver)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-test-deps: missing ${need[*]}; run as root or install them" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# Keep every installed service from starting.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
fi
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
echo "install-test-deps: installing ${need[*]}" >&2
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
