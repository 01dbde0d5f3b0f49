#!/bin/sh
# Container entrypoint: `web` (gunicorn) or `scanner`; both run `corpmail init` first.
set -eu

init() {
    # Idempotent: applies pending migrations; creates the first admin only if none exists.
    if [ -n "${ADMIN_EMAIL:-}" ] && [ -n "${ADMIN_PASSWORD:-}" ]; then
        # The password goes through stdin, never the command line (ps).
        printf '%s' "$ADMIN_PASSWORD" \
            | corpmail init --admin-email "$ADMIN_EMAIL" --admin-password -
    else
        corpmail init
    fi
}

case "${1:-web}" in
    web)
        init
        exec gunicorn \
            --bind "0.0.0.0:${CORPMAIL_PORT:-8000}" \
            --workers "${CORPMAIL_WEB_WORKERS:-2}" \
            --forwarded-allow-ips '*' \
            --access-logfile - \
            'corpmail.app:create_app()'
        ;;
    scanner)
        init
        exec corpmail scanner
        ;;
    *)
        exec "$@"
        ;;
esac
